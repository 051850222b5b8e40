"""The set-based writers of chip rows: custody, status, country, model and last verification.

The registry owns the chip table; every other app (inventory's transfers and
placements, attestations' statements) changes chips through these functions,
so what a change records is decided in one place:

- custody, status and model changes append one history row per chip that
  changed (registry.models.ChipEvent, append-only), each pointing at the
  transparency-log event that covers the change (`log_index`): a set moves
  under one event the caller appends for its own act (`transfer.shipped`,
  `transfer.received`, a statement's leaf), not one event per chip;
- a country follows the chip's placement, whose rows are its history
  (inventory_placement, each with its log index): no chip event, but the
  operator-country subjects it touched are returned for the caller's outbox
  event;
- last verification is a summary of evidence stored elsewhere (sightings,
  inspections, receipts): it only moves forward, and records nothing itself;
  so is hardware verification (the latest verified hardware evidence, kept by
  attestations' per-chip evidence rows).

Each is one statement (registry.storage) plus, where history is due, one
bulk insert. For a caller that must do its whole write in one round trip
(a node agent's statement), `last_verified_sql` and `fold_last_verified_sql`
give the statement's text to run inside its own `WITH`.
"""

from registry import storage
from registry.choices import ChipEventKind

__all__ = [
    "changed_among_sql",
    "changed_between",
    "changed_kinds",
    "current",
    "fold_last_verified_sql",
    "last_verified_sql",
    "lock",
    "proved_sql",
    "refresh_last_verified",
    "set_country",
    "set_custody",
    "set_hardware_verified",
    "set_model",
    "set_status",
]

last_verified_sql = storage.last_verified_sql
fold_last_verified_sql = storage.fold_last_verified_sql
HISTORY_BATCH = 5000


def lock(chip_pks):
    """Lock the chips' rows until the transaction ends (a writer's caller that checks their state first);
    returns (pk, custodian_id, status) of each, as they are now.

    The log's writers' lock is taken first and held as long: a statement takes it at its append and then writes
    chip rows (its chips' last verification, a country its placements move), so a caller that locked chip rows
    first and appended after waited for a statement that waited for it (PostgreSQL aborting one of them). One
    order for all: the log's, then chip rows. Under it the books hold still: every writer of placements and of
    chips' custody, status and country holds it to its commit."""
    from registry.models import Chip
    from transparency.log import hold_writers

    hold_writers()
    return list(
        Chip.objects.select_for_update().filter(pk__in=list(chip_pks)).values_list("pk", "custodian_id", "status")
    )


def _history(kind, changes, actor, reason, log_index):
    """One ChipEvent per (chip pk, before, after)."""
    from registry.models import ChipEvent

    organisation_id = actor.organisation_id if actor is not None else None
    ChipEvent.objects.bulk_create(
        [
            ChipEvent(
                chip_id=pk,
                kind=kind,
                actor=actor,
                actor_organisation_id=organisation_id,
                before=before,
                after=after,
                reason=reason,
                log_index=log_index,
            )
            for pk, before, after in changes
        ],
        batch_size=HISTORY_BATCH,
    )


def set_status(chip_pks, status, *, actor, reason, log_index, detail=None):
    """Set the chips' status; one `status` history row per chip whose status changed (`detail`, a dict, is
    added to each row's `after`: e.g. the disposal request that authorised the change).

    The caller has checked the transition (registry.records.check_transition) or holds the chips in a
    state its act allows (a transfer ships chips at rest, receives chips in transit). Returns
    {chip pk: previous status} of the chips that changed."""
    changed = dict(storage.set_status(list(chip_pks), str(status))) if chip_pks else {}
    _history(
        ChipEventKind.STATUS,
        [(pk, {"status": was}, {"status": str(status), **(detail or {})}) for pk, was in sorted(changed.items())],
        actor,
        reason,
        log_index,
    )
    return changed


def set_custody(chip_pks, custodian, country, *, actor, reason, log_index):
    """Hand the chips to `custodian` (an Organisation) in `country`; one `custody` history row per chip
    whose custodian changed. Returns the operator-country subject keys ("custodian_pk:country") the
    chips left and entered."""
    from registry.models import Organisation

    rows = storage.set_custody(list(chip_pks), custodian.pk, country) if chip_pks else []
    before = {was for _, was, _ in rows if was != custodian.pk}
    codes = dict(Organisation.objects.filter(pk__in=before).values_list("pk", "code")) if before else {}
    _history(
        ChipEventKind.CUSTODY,
        [
            (pk, {"custodian": codes[was]}, {"custodian": custodian.code})
            for pk, was, _ in sorted(rows)
            if was != custodian.pk
        ],
        actor,
        reason,
        log_index,
    )
    keys = set()
    for _, was, was_country in rows:
        if (was, was_country) != (custodian.pk, country):
            keys |= {f"{was}:{was_country}" if was_country else "", f"{custodian.pk}:{country}" if country else ""}
    return keys - {""}


def set_country(chip_pks, country):
    """A chip's country follows its placement (and its facility's country). Returns the operator-country
    keys of the chips that changed country ("custodian:country", before and after)."""
    return operator_countries(move_country(chip_pks, country), country)


def held(chip_pks, custodian_id, statuses):
    """Of `chip_pks`, those `custodian_id` holds now at one of `statuses` (a read: the writers below ask it
    under the log's lock, before moving chips a caller resolved earlier)."""
    return set(storage.held(list(chip_pks), custodian_id, statuses)) if chip_pks else set()


# The changes that decide what a statement's word about a chip means: whose it is, and whether it is lost.
CUSTODY_OR_STATUS = (ChipEventKind.CUSTODY, ChipEventKind.STATUS)


def current(chip_pks):
    """{pk: (custodian_id, status, country)} of the chips, as they are now (a read)."""
    return {pk: tuple(rest) for pk, *rest in storage.current(list(chip_pks))} if chip_pks else {}


def changed_between(first, end):
    """{pk: (custodian_id, status, country)}, as they are now, of the chips whose custody or status changed under
    the log entries from `first` to before `end`. Every such change is a history row carrying the index of
    the entry that covers it (see above): a reader that resolved chips when the log had `first` entries and
    holds the log's lock at entry `end` asks which of them changed meanwhile (a read)."""
    if end <= first:
        return {}
    return {pk: tuple(rest) for pk, *rest in storage.changed_between(first, end, changed_kinds())}


def changed_among_sql(first="first", end="end", kinds="kinds", chips="chips"):
    """changed_between's question about some chips only, as a SELECT of their ids with these parameter names
    (pass `kinds` as changed_kinds() and the chips through core.lookups.array_param), for a caller that asks
    it inside its own round trip."""
    return storage.changed_among_sql(first, end, kinds, chips)


def changed_kinds():
    return [str(k) for k in CUSTODY_OR_STATUS]


def move_country(chip_pks, country):
    """Set the chips' country; (custodian pk, previous country, how many) of those that changed."""
    return storage.set_country(list(chip_pks), country) if chip_pks else []


def operator_countries(moved, country):
    """The operator-country keys ("custodian:country", before and after) of move_country's answer."""
    keys = set()
    for custodian, was, _ in moved:
        if custodian is not None:
            keys |= {f"{custodian}:{cc}" for cc in (was, country) if cc}
    return keys


def set_model(chip_pks, model, *, actor, reason, log_index):
    """Set the chips' model (an AcceleratorModel of their manufacturer: the caller checks); one `model`
    history row per chip that changed. Returns {chip pk: previous model slug}; the caller emits
    `chips.model_corrected` for them (their reported work is counted again: attestations.recount)."""
    from registry.models import AcceleratorModel

    changed = dict(storage.set_model(list(chip_pks), model.pk)) if chip_pks else {}
    slugs = dict(AcceleratorModel.objects.filter(pk__in=set(changed.values())).values_list("pk", "slug"))
    before = {pk: slugs[was] for pk, was in changed.items()}
    _history(
        ChipEventKind.MODEL,
        [(pk, {"model": was}, {"model": model.slug}) for pk, was in sorted(before.items())],
        actor,
        reason,
        log_index,
    )
    return before


def refresh_last_verified(chip_pks, when, resolution=None, countries=None):
    """Continuity of knowledge: the chips were seen at `when` (never moves the time back).

    With a `resolution` (a timedelta), a time less than that much older is left as it is. With
    `countries`, only chips that lie in one of them move (an inspectorate vouches for its jurisdictions
    alone). Returns how many chips moved forward."""
    if not chip_pks:
        return 0
    stale_before = when - resolution if resolution else when
    return storage.refresh_last_verified(list(chip_pks), when, stale_before, countries)


def proved_sql(chip_pks, when, stale_before):
    """The chips proved themselves with hardware evidence observed at `when`, and so were seen then: the
    UPDATE that moves their `hardware_verified_at` forward to it, and their `last_verified_at` where it is
    older than `stale_before`, and its named parameters, for a caller that composes it into its own round
    trip (attestations' evidence statement, a node agent's hot path: `WITH proved AS (<this>) ...`)."""
    return storage.proved_sql(list(chip_pks), when, stale_before)


def set_hardware_verified(chip_pks, when):
    """The chips proved themselves with hardware evidence observed at `when` (HARDWARE.md 5): their
    `hardware_verified_at` moves forward to it, never back. Returns how many moved."""
    if not chip_pks:
        return 0
    return storage.set_hardware_verified(list(chip_pks), when)
