"""Stored reconciliation snapshots: when they go stale, and recomputing them.

A snapshot goes stale (`mark_stale`: wanted += 1, an upsert, safe inside any
transaction) when
- a declaration (also a complete location statement) or an inspection of
  the facility is saved, or a transfer to or from it (signals, below: after
  the commit that saves it, so a rolled-back change marks nothing);
- the outbox announces `placements.changed` for it (the book moved);
- a page finds that the latest listings or the facility's newest placement
  differ from those the snapshot was computed from (`inputs`).

`refresh(facility_id)` recomputes it with inventory's reconcile() at "now"
and replaces its rows; it runs as a Celery task after the commit that marked
it (in-process when tasks are eager, as in development and the tests).
Several marks while one computation runs cost one more computation, not one
each (`started`).
"""

import contextlib
import logging
import time
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone

from console import storage
from console.models import ReconciliationItem, ReconciliationSnapshot
from inventory.models import Placement
from inventory.services.reconciliation import latest_listings, reconcile

log = logging.getLogger(__name__)
BATCH = 5000
# A computation that began longer ago than this and never finished (a killed worker) may be retried.
STUCK = timedelta(minutes=15)


def mark_stale(facility_ids):
    """Announce a change to these facilities' balances (creates their snapshot rows when missing)."""
    ids = sorted({int(f) for f in facility_ids if f is not None})
    if not ids:
        return
    for facility_id in ids:
        storage.mark_stale(facility_id)


def request_refresh(facility_ids):
    """After the commit: mark stale and have a worker recompute.

    Not inside the transaction: the mark would hold the snapshot row's lock
    until a long ingest commits, and two transactions marking two facilities
    in opposite orders could deadlock. A change whose commit hook is lost (a
    crash right after the commit) is still noticed by the next page, which
    compares the latest listings and placement with the snapshot's inputs.
    """
    ids = sorted({int(f) for f in facility_ids if f is not None})
    if not ids:
        return

    def after_commit():
        mark_stale(ids)
        enqueue(ids, background=True)

    transaction.on_commit(after_commit, robust=True)


def enqueue(facility_ids, background=False):
    """Ask for the recomputation. A change (`background`) is recomputed ahead of the next page only by a
    worker: with eager tasks (development, tests, benchmarks) it would run inside the request that made
    the change, so there the next page that shows the snapshot recomputes it."""
    from django.conf import settings

    from console.tasks import refresh_reconciliation

    if background and settings.CELERY_TASK_ALWAYS_EAGER:
        return
    for facility_id in facility_ids:
        try:
            refresh_reconciliation.delay(facility_id)
        except Exception as exc:  # broker down: the next page view asks again
            log.warning("could not enqueue the reconciliation of facility %s (%s)", facility_id, exc)


def current_inputs(facility, at):
    """What a balance at `at` is computed from, cheaply (index probes): the latest listings, the newest placement."""
    declared, attested, inspected = latest_listings(facility, at)
    newest = Placement.objects.filter(facility=facility).order_by("-id").values_list("id", flat=True).first()
    return {
        "declaration": declared.pk if declared else None,
        "attestation": attested.pk if attested else None,
        "inspection": inspected.pk if inspected else None,
        "placement": newest,
    }


def snapshot_for(facility, *, refresh_if_stale=True):
    """The facility's stored snapshot (or None), asking for a recomputation when it is missing or stale.

    With eager tasks the recomputation happens here, before the answer; with
    a worker the page shows the previous snapshot, marked as being recomputed.
    """
    snapshot = ReconciliationSnapshot.objects.filter(facility=facility).first()
    if not refresh_if_stale:
        return snapshot
    now = timezone.now()
    if snapshot is None or (snapshot.current and snapshot.inputs != current_inputs(facility, now)):
        mark_stale([facility.pk])
        snapshot = ReconciliationSnapshot.objects.get(facility=facility)
    if not snapshot.current and (
        snapshot.started < snapshot.wanted or snapshot.started_at is None or snapshot.started_at < now - STUCK
    ):
        enqueue([facility.pk])
        snapshot = ReconciliationSnapshot.objects.get(facility=facility)
    return snapshot


def refresh(facility_id):
    """Recompute one facility's snapshot unless it is current or another computation of it is under way."""
    now = timezone.now()
    with transaction.atomic():
        snapshot = ReconciliationSnapshot.objects.select_for_update().filter(facility_id=facility_id).first()
        if snapshot is None:
            mark_stale([facility_id])
            snapshot = ReconciliationSnapshot.objects.select_for_update().get(facility_id=facility_id)
        if snapshot.current:
            return False
        running = snapshot.started >= snapshot.wanted and snapshot.started_at and snapshot.started_at > now - STUCK
        if running:
            return False
        generation = snapshot.wanted
        ReconciliationSnapshot.objects.filter(pk=snapshot.pk).update(started=generation, started_at=now)
    try:
        return _compute(facility_id, snapshot, generation, now)
    except BaseException:
        # Its claim was committed above: left standing, a retry of the task (a dropped connection is retried)
        # would find it "under way" and return, the snapshot stale until the claim is STUCK. Released, if
        # still this computation's, so that the retry, or the next page view, computes it.
        with contextlib.suppress(DatabaseError):  # its connection lost: the claim waits out STUCK, as before
            ReconciliationSnapshot.objects.filter(pk=snapshot.pk, started=generation, started_at=now).update(
                started_at=None
            )
        raise


def _compute(facility_id, snapshot, generation, now):
    """refresh's computation, its claim on `generation` taken at `now`."""
    from inventory.models import Facility

    facility = Facility.objects.select_related("operator").get(pk=facility_id)
    started = time.perf_counter()
    with transaction.atomic():
        # One snapshot of the database for the inputs and the answer (PostgreSQL: REPEATABLE READ would
        # be stricter; the inputs are read first, so a change after them marks the snapshot stale again).
        inputs = current_inputs(facility, now)
        result = reconcile(facility, now)
        seconds = time.perf_counter() - started
        locked = ReconciliationSnapshot.objects.select_for_update().get(pk=snapshot.pk)
        if locked.computed >= generation:
            return False  # a later computation already answered
        ReconciliationItem.objects.filter(snapshot_id=snapshot.pk).delete()
        rows = [
            ReconciliationItem(
                snapshot_id=snapshot.pk,
                kind=str(d.kind),
                chip_ref=d.chip_ref,
                chip_pk=d.chip_pk,
                source=str(d.source),
                source_id=str(d.source_id),
                book_cluster=d.book_cluster or "",
                listed_cluster=d.listed_cluster or "",
            )
            for d in result.discrepancies
        ]
        ReconciliationItem.objects.bulk_create(rows, batch_size=BATCH)
        ReconciliationSnapshot.objects.filter(pk=snapshot.pk).update(
            computed=generation,
            computed_at=timezone.now(),
            seconds=seconds,
            at=result.at,
            book_count=result.book_count,
            sources=_json_sources(result.sources),
            inputs=inputs,
            discrepancy_count=len(rows),
        )
    return True


def _json_sources(sources):
    out = {}
    for name, info in sources.items():
        if info is None:
            out[name] = None
            continue
        out[name] = {str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in info.items()}
    return out


def connect_signals():
    """A listing, an inspection or a transfer saved marks its facilities' snapshots stale."""
    from django.db.models.signals import post_save

    from inventory.models import Declaration, Inspection, Transfer

    def listing_saved(sender, instance, created, **kwargs):
        if created:
            request_refresh([instance.facility_id])

    def transfer_saved(sender, instance, **kwargs):
        request_refresh([instance.origin_facility_id, instance.destination_facility_id, instance.received_facility_id])

    post_save.connect(listing_saved, sender=Declaration, dispatch_uid="console-recon-declaration", weak=False)
    post_save.connect(listing_saved, sender=Inspection, dispatch_uid="console-recon-inspection", weak=False)
    post_save.connect(transfer_saved, sender=Transfer, dispatch_uid="console-recon-transfer", weak=False)
