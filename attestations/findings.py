"""Findings from verified statements: facts that conflict with the registry.

A statement that passed every check is accepted whatever it says; what does
not fit (unknown chips, another operator's chips, impossible travel, two
places at once, usage beyond the hardware, an RTT that rules the facility
out) is recorded here, with the statement and its log index as evidence.
"""

from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least

from attestations.models import UsageRecord
from attestations.storage import ingest
from core.lookups import Array
from inventory.choices import FindingKind, FindingSource
from inventory.geo import haversine_km
from inventory.services.reconciliation import Discrepancy

EARTH_HALF_CIRCUMFERENCE_KM = 20_038
CHUNK = 10_000  # chips per query: bounded memory and parameters for a million-chip statement


def _d(kind, chip_ref, chip_pk, attestation_id):
    return Discrepancy(kind, chip_ref, chip_pk, FindingSource.ATTESTATION, str(attestation_id))


def ownership(attestation_id, chips, operator):
    """Unknown chips and chips registered to another operator. `chips`: {chip_ref: (pk, custodian_id, ...) | None}."""
    out = []
    speaker = operator.pk  # once: a model's pk is a property, a million calls over a million chips
    for ref, info in chips.items():
        if info is None:
            out.append(_d(FindingKind.UNKNOWN_CHIP, ref, None, attestation_id))
        elif info[1] != speaker:
            out.append(_d(FindingKind.OTHER_OPERATOR, ref, info[0], attestation_id))
    return out


def chip_history_since(chip_pks, since, kinds=None):
    """{chip pk: [(kind, at, before, after, log_index)]}, in time order: the status and custody changes of the
    chips recorded after `since` (one read a chunk on the history's time index: none for almost every
    statement), what worked_off_the_books and worked_before_custody judge a usage statement's work by. `kinds`:
    some of those kinds only."""
    from registry.choices import ChipEventKind
    from registry.models import ChipEvent

    history = {}
    pairs = iter(chip_pks)
    # A chunk of chips at a time (each chip's rows in one chunk, so in time order): bounded parameters for a
    # million-chip usage statement.
    while chunk := list(islice(pairs, CHUNK)):
        rows = ChipEvent.objects.filter(
            chip_id__any=Array(chunk),
            kind__in=kinds or [ChipEventKind.STATUS, ChipEventKind.CUSTODY],
            at__gt=since,
        ).order_by("at", "id")
        for chip_pk, *change in rows.values_list("chip_id", "kind", "at", "before", "after", "log_index"):
            history.setdefault(chip_pk, []).append(tuple(change))
    return history


def _unexpected(ref, pk, attestation_id, note):
    d = _d(FindingKind.UNEXPECTED, ref, pk, attestation_id)
    d.note = note
    return d


def worked_off_the_books(attestation_id, facility, statement, worked, history, found):
    """The speaker's own chips a witnessed disposal took off the books (destroyed, decommissioned: out of every
    chip count) that its usage statement says worked while they stood off them: more active seconds than the
    time within the period the chip stood on the books (as for a chip reported lost, inventory.services.watch).
    One `unexpected` finding each, as a location statement listing a destroyed chip in use is: the holder cannot
    take a chip out of every count, on evidence an inspector accepted, and go on working it. Work that fits
    before the disposal, filed after it, says nothing of the chip since. The time on the books is read from the
    chip's status history over the period, so a chip decommissioned and put back in service since (on its
    holder's word), or decommissioned and then destroyed, is judged by where it stood during the period, not
    by its status now. `worked`: {ref: (pk, active seconds)} of the speaker's own chips the statement says
    worked, the seconds those the work is counted on (kinds.usage: more energy than the chip's power limit allows
    in them witnesses more; a chip listed idle, a decommissioned chip left in its rack, is not in it);
    `history`: chip_history_since the period's start; `found`: {ref: (pk, custodian, status, country) | None}."""
    from registry.choices import DISPOSAL_STATUSES

    disposed = {str(s) for s in DISPOSAL_STATUSES}
    start, end = statement.period_start, statement.period_end
    out = []
    for ref, (pk, active) in worked.items():
        changes = _status_changes(history.get(pk, ()))
        now_status = str(found[ref][2])
        if not changes and now_status not in disposed:
            continue  # on the books all through the period, and since
        on_books, off = _time_on_books(start, end, changes, now_status, disposed)
        if off is None or active <= on_books:
            continue
        out.append(
            _unexpected(
                ref,
                pk,
                attestation_id,
                f"reported working at {facility.code} for {active:,.0f} s from {start.isoformat()}, more than the "
                f"{on_books:,.0f} s of its period it stood on the books: {off} by a witnessed disposal for the "
                "rest, when its holder's books counted it nowhere",
            )
        )
    return out


def worked_while_lost(statement, worked, history, found):
    """The refs of the speaker's own chips its usage statement says worked while they stood reported lost or
    stolen: more active seconds than the time within the period they stood at another status. The chip is on
    the watch list no more (recovered, on its holder's word, before the statement was filed), so the statement's
    check of the chips' status now (inventory.services.watch.raise_sightings) passed it: reported lost, worked,
    recovered, then reported, the work was never a sighting. `worked`, `history`, `found`: as for
    worked_off_the_books."""
    from registry.choices import WATCHED_STATUSES

    watched = {str(s) for s in WATCHED_STATUSES}
    out = []
    for ref, (pk, active) in worked.items():
        changes = _status_changes(history.get(pk, ()))
        if not changes:
            continue  # at its status now all through: raise_sightings judges that
        free, lost = _time_on_books(statement.period_start, statement.period_end, changes, str(found[ref][2]), watched)
        if lost is not None and active > free:
            out.append(ref)
    return out


def _status_changes(rows):
    """(at, status before, status after) of one chip's chip_history_since rows that changed its status."""
    from registry.choices import ChipEventKind

    return [
        (at, (before or {}).get("status"), (after or {}).get("status"))
        for kind, at, before, after, _ in rows
        if kind == ChipEventKind.STATUS
    ]


def _time_on_books(start, end, changes, now_status, disposed):
    """(seconds within [start, end] a chip stood at a status on the books, the first disposal status it stood at
    in that time or None). `changes`: its status changes after `start`, in time order (at, before, after); with
    none, it stood at `now_status` all through. (`disposed`: the statuses off the books; or those of the watch
    list, for the time a chip stood reported lost or stolen: worked_while_lost.)"""
    status = changes[0][1] if changes else now_status
    on_books, off, since = 0.0, None, start
    for at, _, after in changes:
        if at >= end:
            break
        if status in disposed:
            off = off or status
        else:
            on_books += (at - since).total_seconds()
        since, status = at, after
    if status in disposed:
        off = off or status
    else:
        on_books += (end - since).total_seconds()
    return on_books, off


def _custody_changes(history):
    """{chip pk: [(when custody changed, custodian before)]} from chip_history_since's rows: each change dated by
    the `received_at` its receipt gave. Custody changes only by a receipt (its history row carries the
    receipt's log index), recorded at or after that time."""
    from inventory.models import Transfer
    from registry.choices import ChipEventKind

    custody = {
        pk: [(at, before, log_index) for kind, at, before, _, log_index in rows if kind == ChipEventKind.CUSTODY]
        for pk, rows in history.items()
    }
    custody = {pk: rows for pk, rows in custody.items() if rows}
    if not custody:
        return {}
    indices = {log_index for rows in custody.values() for *_, log_index in rows if log_index is not None}
    receipts = Transfer.objects.filter(receipt_log_index__in=indices)
    received = dict(receipts.values_list("receipt_log_index", "received_at").order_by())
    return {
        pk: [(received.get(i) or at, (before or {}).get("custodian")) for at, before, i in rows]
        for pk, rows in custody.items()
    }


def _received_after(changes, when, operator):
    """The speaker's receipt of the chip when the speaker did not hold it at `when` (the first custody change
    after `when` was not away from the speaker), else None. `changes`: one chip's _custody_changes."""
    first = min((c for c in changes if c[0] > when), key=lambda c: c[0], default=None)  # ties: in log order
    if first is None or first[1] == operator.code:
        return None  # the speaker held it then: no custody change since, or the first one since was away from it
    return max(c[0] for c in changes)  # the last change: the one that gave it to the speaker


def _skew():
    """The clocks' allowed skew, given on top of every time a statement gives."""
    return timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_FUTURE_S)


def worked_before_custody(attestation_id, facility, statement, worked, history, operator):
    """The speaker's own chips that its usage statement says worked at a time another party held them: more active
    seconds than lie between the chip's receipt by the speaker (the `received_at` its own receipt gave) and the
    period's end. One `unexpected` finding each, for the speaker, its facility's inspectorate and the treaty body:
    a later holder's claims about the time before its receipt are checked against no one's records (the former
    holder's reports are not read: section 5 of ATTESTATION.md), so they are checked against the chips' custody,
    which says nothing of the former holder beyond what the speaker's own receipt says. The work counts all the
    same. `worked`, `history`: as for worked_off_the_books."""
    custody = _custody_changes(history)
    if not custody:
        return []
    span = max((statement.period_end - statement.period_start).total_seconds(), 0)
    out = []
    for ref, (pk, active) in worked.items():
        if pk not in custody:
            continue  # no receipt since the period began
        # The latest its work can have begun: all of it at the period's end.
        begun = statement.period_end - timedelta(seconds=min(max(active, 0), span)) + _skew()
        receipt = _received_after(custody[pk], begun, operator)
        if receipt is None:
            continue
        out.append(
            _unexpected(
                ref,
                pk,
                attestation_id,
                f"reported working at {facility.code} from {statement.period_start.isoformat()} for longer than "
                f"lies between its receipt by {operator.code} at {receipt.isoformat()} and the period's end: the "
                "speaker did not hold it then",
            )
        )
    return out


def seen_before_custody(attestation_id, facility, observed_at, received_at, own, operator):
    """The speaker's own chips that its location statement places at its facility at a time another party held
    them: received by the speaker (the `received_at` its own receipt gave) after `observed_at`. One `unexpected`
    finding each, as for work before the receipt (worked_before_custody), for the same parties and saying as
    little: the chip is not moved there before the receipt (its open placement, from the receipt, is newer).
    `received_at`: when the registry received the statement; one as fresh as a node agent's (no receipt can
    postdate it by more than the clocks' skew) reads nothing. `own`: (ref, pk) of the chips the speaker holds."""
    from inventory.models import Transfer
    from registry.choices import ChipEventKind

    since = observed_at + _skew()
    if since >= received_at:
        return []
    # Custody changes only by a receipt: with none by the speaker since, none of its chips came after `since`
    # (the receiver's few transfers, read on their index, spare a big statement its chips' history read).
    if not Transfer.objects.filter(receiver=operator, received_at__gt=since).exists():
        return []
    out = []
    pairs = iter(own)
    # A chunk of chips at a time: a million-chip statement's history read in bounded parameters and memory.
    while chunk := list(islice(pairs, CHUNK)):
        refs = {pk: ref for ref, pk in chunk}
        custody = _custody_changes(chip_history_since(refs, since, kinds=[ChipEventKind.CUSTODY]))
        for pk, changes in custody.items():
            receipt = _received_after(changes, since, operator)
            if receipt is None:
                continue
            out.append(
                _unexpected(
                    refs[pk],
                    pk,
                    attestation_id,
                    f"listed at {facility.code} at {observed_at.isoformat()}, before its receipt by {operator.code} "
                    f"at {receipt.isoformat()}: the speaker did not hold it then",
                )
            )
    return out


def movement_window():
    """Nothing further than half the earth's circumference away can be too fast outside this window."""
    return timedelta(hours=EARTH_HALF_CIRCUMFERENCE_KM / settings.CHIPREG_MAX_TRANSPORT_KMH)


def movement(attestation_id, facility, when, chip_pks_by_ref, elsewhere=None):
    """Two places at once, or a journey faster than any transport, against other sightings and placements.

    `chip_pks_by_ref`: (chip_ref, chip pk) pairs, or a dict of them. `elsewhere`: the rows _elsewhere
    would read for them, when the caller read them already (one chunk of chips at most)."""
    speed = settings.CHIPREG_MAX_TRANSPORT_KMH
    simultaneous = timedelta(seconds=settings.CHIPREG_SIMULTANEITY_S)
    window = movement_window()
    pairs = iter(chip_pks_by_ref.items() if isinstance(chip_pks_by_ref, dict) else chip_pks_by_ref)
    out = []
    # A chunk of chips at a time, so a million-chip statement never holds a map of every chip here.
    while chunk_pairs := list(islice(pairs, CHUNK)):
        refs_by_pk = {pk: ref for ref, pk in chunk_pairs}
        chunk = list(refs_by_pk)
        evidence = {}  # chip pk -> the kind of its first conflicting observation
        if elsewhere is not None and len(chunk_pairs) == CHUNK:
            raise ValueError("movement: rows read beforehand cover one chunk of chips at most")
        rows = elsewhere if elsewhere is not None else _elsewhere(chunk, facility, attestation_id, when, window)
        for chip_id, lat, lon, at in rows:
            gap = abs((when - at).total_seconds())
            distance = haversine_km(facility.latitude, facility.longitude, lat, lon)
            if gap <= simultaneous.total_seconds():
                kind = FindingKind.TWO_PLACES
            elif distance / (gap / 3600) > speed:
                kind = FindingKind.IMPOSSIBLE_TRAVEL
            else:
                continue
            evidence.setdefault(chip_id, kind)
        out += [_d(kind, refs_by_pk[pk], pk, attestation_id) for pk, kind in evidence.items()]
    return out


def _elsewhere(chunk, facility, attestation_id, when, window):
    """(chip pk, latitude, longitude, time) of other statements' sightings and of placements elsewhere.

    Only a sighting by the chip's custodian (or a landmark's) counts, as for its last verification: another
    operator's listing of a chip it does not hold is recorded once, as a finding for the holder, and must not
    have every later statement of the holder flagged on its word. And only at the custodian's own sites, a
    placement too: where a former holder had the chip (its placements, a landmark's measurement there) is
    that holder's book, and a later holder's statement dated back into that time would read out of its
    `two_places` and `impossible_travel` flags when the chip was put there and, stepping the time, how far
    away the site lies (tests/authz_review/test_reads_former_holder.py)."""
    return ingest.seen_elsewhere(chunk, facility.pk, attestation_id, when, window)


def custodians_records(chunk, start, end):
    """The usage records of the chips `chunk` (pks) in force at some time in (start, end) that their custodian
    (now) reported: the other reports a statement is judged against. A former holder's records of its own time
    with a chip are its books: judged against a later holder's report of that time, the later holder's answer
    (`two_places`, `implausible_usage`) would read out when the former worked the chip, and how long
    (tests/authz_review/test_reads_former_holder.py); as a location statement's movement reads only the
    custodian's sightings (ingest.seen_elsewhere)."""
    return UsageRecord.objects.filter(
        chip_id__any=Array(chunk),
        period_start__lt=end,
        period_end__gt=start,
        attestation__operator_id=F("chip__custodian_id"),
    )


def usage_overlaps(attestation_id, facility, start, end, chip_pks_by_ref):
    """A chip reported busy at another facility for an overlapping period by its custodian: two places at once."""
    refs_by_pk = {pk: ref for ref, pk in chip_pks_by_ref.items()}
    pks = list(refs_by_pk)
    found = set()
    for i in range(0, len(pks), CHUNK):
        chunk = pks[i : i + CHUNK]
        found |= set(
            custodians_records(chunk, start, end)
            .exclude(facility=facility)
            .exclude(attestation_id=attestation_id)
            .values_list("chip_id", flat=True)
        )
    return [_d(FindingKind.TWO_PLACES, refs_by_pk[pk], pk, attestation_id) for pk in sorted(found)]


def usage_elsewhere(attestation_id, facility, start, end):
    """One finding for a usage statement whose chips (those bound to a chip: the speaker's) the books place, all
    through its period, at other facilities and never at the one it names; its note says where, and how many.
    Chips placed nowhere are not this (the books say nothing of where they are). Only the speaker's own
    facilities are read: where another party had the chips then (before the speaker held them) is that party's
    book, and the finding's answer, stepped over periods, would read its sites and dates out to the speaker."""
    own = own_placements_during(attestation_id, facility, start, end)
    here = own.filter(facility=facility).values("chip_id")
    away = own.exclude(facility=facility).exclude(chip_id__in=here)
    # All through: a chip's placements (one open at a time, each closed where the next begins) clipped to the
    # period add up to all of it. Placed elsewhere for its last hour and nowhere before, a chip's five days
    # named here do not contradict the books (ATTESTATION.md 5: "at another all through the usage period").
    clipped = ExpressionWrapper(
        Least(Coalesce("valid_to", Value(end)), Value(end)) - Greatest("valid_from", Value(start)),
        output_field=DurationField(),
    )
    covered = away.values("chip_id").annotate(placed=Sum(clipped)).filter(placed__gte=end - start).values("chip_id")
    elsewhere = (
        away.filter(chip_id__in=covered)
        .values_list("facility__code")
        .annotate(n=Count("chip_id", distinct=True))
        .order_by("facility__code")
    )
    placed = list(elsewhere[:21])
    if not placed:
        return []
    parts = [f"{code} ({_chips(n)})" for code, n in placed[:20]]
    if len(placed) > 20:
        parts.append("more facilities")
    d = _d(FindingKind.USAGE_ELSEWHERE, "", None, attestation_id)
    d.note = f"names chips placed, all through its period, at other facilities than {facility.code}: " + ", ".join(
        parts
    )
    return [d]


def own_placements_during(attestation_id, facility, start, end):
    """The placements, in force at some time in (start, end), of a usage statement's chips (those bound to a chip)
    at the facilities of its speaker (`facility`'s operator): what usage_elsewhere and the windows that follow
    placements (compliance.storage's _USAGE) read of the books."""
    from inventory.models import Placement

    chips = UsageRecord.objects.filter(attestation_id=attestation_id).values("chip_id")
    return Placement.objects.during(start, end).filter(chip_id__in=chips, facility__operator_id=facility.operator_id)


def _chips(n):
    return f"{n} chip{'s' if n != 1 else ''}"


def late_filing(attestation_id, received_at, period_end):
    """One finding for a usage statement received more than CHIPREG_USAGE_FILING_GRACE_H after its period
    ended. Its work is counted all the same (attestations.windows, compliance.late_windows); the finding lets
    inspectors see who files late, and how late, which the counting alone does not show."""
    grace = timedelta(hours=settings.CHIPREG_USAGE_FILING_GRACE_H)
    late = received_at - period_end
    if late <= grace:
        return []
    d = _d(FindingKind.LATE_FILING, "", None, attestation_id)
    hours = late.total_seconds() / 3600
    ended = period_end.isoformat().replace("+00:00", "Z")
    d.note = (
        f"received {hours:,.0f} hours ({hours / 24:,.1f} days) after its period ended at {ended}; "
        f"the filing grace is {settings.CHIPREG_USAGE_FILING_GRACE_H} hours"
    )
    return [d]


def usage_double_count(attestation_id, start, end, chip_pks_by_ref, active_by_ref):
    """Active time beyond the wall clock: this period plus overlapping reports of the chip's custodian."""
    refs_by_pk = {pk: ref for ref, pk in chip_pks_by_ref.items()}
    pks = list(refs_by_pk)
    out = []
    for i in range(0, len(pks), CHUNK):
        chunk = pks[i : i + CHUNK]
        rows = (
            custodians_records(chunk, start, end)
            .exclude(attestation_id=attestation_id)
            .values_list("chip_id", "period_start", "period_end", "active_s")
        )
        extra = {}
        for chip_id, s, e, active in rows:
            overlap = (min(e, end) - max(s, start)).total_seconds()
            length = (e - s).total_seconds() or 1.0
            extra[chip_id] = extra.get(chip_id, 0.0) + active * overlap / length
        wall = (end - start).total_seconds()
        for chip_id, other in extra.items():
            if active_by_ref[refs_by_pk[chip_id]] + other > wall * 1.01:
                out.append(_d(FindingKind.IMPLAUSIBLE_USAGE, refs_by_pk[chip_id], chip_id, attestation_id))
    return out


def rtt_bound(attestation_id, statement, landmark, facility, chip_pk):
    km = haversine_km(landmark.latitude, landmark.longitude, facility.latitude, facility.longitude)
    bound = statement.rtt_ms * settings.CHIPREG_RTT_KM_PER_MS
    if km > bound:
        return [_d(FindingKind.RTT_IMPOSSIBLE, statement.chip, chip_pk, attestation_id)], km, bound
    return [], km, bound
