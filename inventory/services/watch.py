"""The watch list and the chips off the books: lost and stolen chips, their sightings, unreported chips.

- A chip its holder reports lost or stolen (registry.services.change_chip) is a `lost_or_stolen` finding at
  once (high alert: its holder, its last country's inspectorate, the treaty body), raised in the
  transaction that changed its status (registry.hooks "chips.lost"). The chip is on the watch list while its
  status is lost or stolen (GET /api/v1/watchlist/).
- A lost or stolen chip seen again anywhere (a location statement, a declaration, an inspection, a transfer's
  receipt), or reported working after it was reported lost or stolen (a usage statement, its holder's or
  anyone's, with more active seconds than lie between its period's start and the report), is a
  `lost_chip_sighted` finding (critical): one under its holder of record for the chip's last country and one
  for the sighting's country, so each inspectorate gets its alert.
  The finding names its source by id and the sighting's country and time: those entitled to the source (its
  country's inspectorate, the treaty body) follow it; the holder does not learn whose facility it was, and the
  party that reported the sighting, if another operator, learns nothing from it (it is not a party to the
  finding; a statement's answer says only `other_operator`, as for any chip another party holds).
- A chip of a manufacturer that reports its production (any ManufacturerReport), registered by anyone
  else and not reported by it within CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS, is an `unreported_chip`
  finding (daily sweep); the manufacturer's later report resolves it (registry.hooks "chips.reported").
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef
from django.utils import timezone

from inventory.choices import FindingKind, FindingSource
from inventory.models import Finding
from inventory.services.findings import holders_finding, new_finding, raise_monitored, store_findings
from outbox import emit
from registry.choices import WATCHED_STATUSES

WATCHED = tuple(str(s) for s in WATCHED_STATUSES)


def raise_lost(chips, status, actor, log_index):
    """registry.hooks "chips.lost": chips=[(pk, public id, custodian pk, country)]."""
    source_id = f"status:{log_index}"
    store_findings(
        [
            holders_finding(
                FindingKind.LOST_OR_STOLEN,
                chip,
                source=FindingSource.REGISTRY,
                source_id=source_id,
                detail=f"{chip[1]}: reported {status} by its holder; on the watch list.",
                evidence={"status": str(status), "log_index": log_index},
            )
            for chip in chips
        ]
    )
    emit("findings.raised", source=str(FindingSource.REGISTRY), source_id=source_id)


def raise_sightings(
    found, *, source, source_id, country, when, log_index=None, reported_since=(), reported_before=None
):
    """Critical findings for the lost or stolen chips among `found` ({ref: (pk, custodian, status, country)}),
    seen at `when` in `country` by `source` `source_id` (a statement, an inspection, a transfer).

    `reported_since`: refs known to have been reported lost or stolen since the source began (a shipment's
    chips that left it in transit: lost or stolen is the only way out but the receipt). They are sightings
    whatever their status now: a holder that `recovered` one at rest on its own word would otherwise take it
    off the watch list and out of every finding while its receiver holds it.

    `reported_before`: only the chips reported lost or stolen before this time, or before each chip's own
    (a function of the refs asked about, answering {ref: time}). Work reported for a period: the latest its
    work could have ended had it stopped at once, the period's start plus its active seconds; work that fits
    before the report says nothing of the chip since, whether filed late or in the period of the report, as a
    theft's victim files it."""
    reported_since = set(reported_since)
    # A statement's log entry is public and its leaf names the signers' keys (the key directory, their
    # organisation): cited to the holder, it would say whose facility saw the chip. Its id is enough for the
    # inspectorates and the treaty body, who may read the statement; other sources' entries are events, read
    # only by those entitled.
    cited_index = None if str(source) == FindingSource.ATTESTATION else log_index
    seen = [
        (ref, info)
        for ref, info in found.items()
        if info is not None and (str(info[2]) in WATCHED or ref in reported_since)
    ]
    if seen and reported_before is not None:
        reported = _reported_at([info[0] for _, info in seen])
        refs = [ref for ref, _ in seen]
        limit = reported_before(refs) if callable(reported_before) else dict.fromkeys(refs, reported_before)
        seen = [
            (ref, info)
            for ref, info in seen
            if limit.get(ref) is None or reported.get(info[0], limit[ref]) <= limit[ref]
        ]
    if not seen:
        return 0
    rows, keys = [], set()
    for ref, (pk, custodian_id, status, chip_country) in seen:
        chip_country = chip_country or ""
        # One row per country concerned, so the inspectorates of both get their alert (an alert holds one).
        for here, other in {(chip_country, country), (country, chip_country)}:
            if not here and other:
                continue
            key = f"{source_id}:{here or '-'}"
            keys.add(key)
            rows.append(
                new_finding(
                    kind=FindingKind.LOST_CHIP_SIGHTED,
                    chip_id=pk,
                    chip_ref=ref,
                    organisation_id=custodian_id,
                    country=here,
                    other_country=other if other != here else "",
                    source=str(source),
                    source_id=key,
                    detail=f"{ref}, reported {status if str(status) in WATCHED else f'lost or stolen (now {status})'}"
                    f", was seen in {country or 'an unknown country'} "
                    f"at {when.isoformat()} ({source} {source_id}).",
                    evidence={
                        "status": str(status),
                        "seen_in": country,
                        "seen_at": when.isoformat(),
                        "source": str(source),
                        "source_id": str(source_id),
                        "log_index": cited_index,
                    },
                )
            )
    store_findings(rows)
    for key in sorted(keys):
        emit("findings.raised", source=str(source), source_id=key)
    return len(seen)


def _reported_at(chip_pks):
    """{chip pk: when its status last changed} (a lost or stolen chip's: its report; a read of its history)."""
    from registry.choices import ChipEventKind
    from registry.models import ChipEvent

    rows = ChipEvent.objects.filter(chip_id__in=chip_pks, kind=ChipEventKind.STATUS).values_list("chip_id")
    return dict(rows.annotate(at=Max("at")).order_by())


def find_unreported(now=None, grace_days=None):
    """Raise one `unreported_chip` finding per chip a reporting manufacturer never reported; returns how many
    such chips there are (an open finding is kept, not repeated)."""
    from protocol.serials import format_chip_id
    from registry.models import Chip, ManufacturerReport

    now = now or timezone.now()
    grace = settings.CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS if grace_days is None else grace_days
    cutoff = now - timedelta(days=grace)
    reporting = ManufacturerReport.objects.values("manufacturer_id").distinct()
    reported = ManufacturerReport.objects.filter(manufacturer_id=OuterRef("manufacturer_id"), serial=OuterRef("serial"))
    chips = (
        Chip.objects.filter(manufacturer_id__in=reporting, created_at__lt=cutoff)
        .annotate(reported=Exists(reported))
        .filter(reported=False)
        .exclude(registered_by_id=F("manufacturer_id"))
        .values_list("pk", "manufacturer__code", "serial", "custodian_id", "country")
        .order_by("pk")
    )

    def finding(pk, maker, serial, custodian_id, country):
        ref = format_chip_id(maker, serial)
        return holders_finding(
            FindingKind.UNREPORTED_CHIP,
            (pk, ref, custodian_id, country),
            source=FindingSource.REGISTRY,
            source_id="unreported",
            detail=f"{ref}: its manufacturer reports the chips it produces and has not reported this one.",
            evidence={"checked_at": now.isoformat(), "grace_days": grace},
        )

    findings = (finding(*row) for row in chips.iterator(chunk_size=10_000))
    return raise_monitored(findings, FindingSource.REGISTRY, "unreported")


def resolve_reported(manufacturer, serials, actor, log_index):
    """registry.hooks "chips.reported": the manufacturer now vouches for these serials; their open
    `unreported_chip` findings are resolved, citing the report's log entry.

    The report's event is the manufacturer's to read (it commits to every serial it added), so each holder's
    resolved findings in each country are also one `findings.resolved_by_report` event, read by that holder
    and that country's inspectorate: those who read the finding can prove from the log why it closed."""
    from registry.models import Chip
    from transparency.events import append_event

    chips = Chip.objects.filter(manufacturer=manufacturer, serial__in=serials).values("pk")
    open_ = Finding.objects.filter(kind=FindingKind.UNREPORTED_CHIP, chip_id__in=chips, resolved_at__isnull=True)
    # Locked, so two reports of the same serials at once resolve each finding once (the second reads them
    # resolved when the first commits) and log one event for it.
    open_ = open_.select_for_update(of=("self",)).order_by("pk")
    groups = {}
    for pk, ref, country, holder in open_.values_list("pk", "chip_ref", "country", "organisation__code"):
        groups.setdefault((country, holder), []).append((pk, ref))
    now = timezone.now()
    for (country, holder), rows in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
        index = append_event(
            "findings.resolved_by_report",
            f"manufacturer:{manufacturer.code}",
            {
                "manufacturer": manufacturer.code,
                "report": log_index,
                "holder": holder,
                "findings": [pk for pk, _ in rows],
                "chips": [ref for _, ref in rows],
                "resolved_at": now.isoformat(),
            },
            parties=[holder] if holder else [],
            countries=[country] if country else [],
        )
        Finding.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            resolved_at=now,
            resolved_by=actor,
            resolution=f"Reported by its manufacturer {manufacturer.code} (log index {log_index}; "
            f"this resolution: log index {index}).",
        )
    return sum(len(rows) for rows in groups.values())
