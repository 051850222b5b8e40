"""Storing an accepted statement whole, in one transaction, logged before the answer.

The envelope bytes, the statement's header, one row per chip, the placement
moves, the findings and the log leaf commit together or not at all.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from attestations import findings as F
from attestations import hotpath
from attestations.checks import Replay, Verified
from attestations.models import Attestation, Sighting, StatementNonce, UsageRecord
from core.copy import NULL, copy_lines, text_value
from core.lookups import Array
from inventory.chiprefs import resolve_chips
from inventory.choices import FindingKind, PlacementSource
from inventory.models import Cluster
from inventory.services.findings import raise_findings
from inventory.services.listings import PLACEABLE, record_declaration, refresh_verification
from inventory.services.placements import place
from inventory.services.reconciliation import Discrepancy
from outbox import emit
from protocol.leaves import attestation_leaf
from protocol.statements import LocationStatement, UsageStatement
from protocol.times import format_time
from protocol.usage import energy_exceeds_limit, estimate_flop
from registry.models import AcceleratorModel, Chip
from transparency.log import append_leaf

log = logging.getLogger(__name__)
# Statements up to this many chips refresh their chips' last verification in the request (see _location).
FOLD_INLINE_MAX = 1000
SIGHTING_COLUMNS = ("attestation_id", "chip_id", "chip_ref", "cluster_code", "facility_id", "observed_at")


@dataclass
class Accepted:
    attestation: Attestation
    flags: dict  # finding kind -> count


def store(verified: Verified, user, body):
    try:
        with transaction.atomic():
            return _store(verified, user, body)
    except IntegrityError as exc:
        # A concurrent submission of the same statement or nonce won the race.
        first = (
            StatementNonce.objects.filter(keyid__in=[k.keyid for k in verified.keys], nonce=verified.statement.nonce)
            .values_list("attestation_id", flat=True)
            .first()
            or Attestation.objects.filter(statement_sha256=verified.statement_sha256)
            .values_list("id", flat=True)
            .first()
        )
        if first is None:
            raise
        raise Replay(first) from exc


def _header(statement):
    fields = {k: getattr(statement, k) for k in statement.__dataclass_fields__ if k != "chips"}
    return {k: format_time(v) if hasattr(v, "tzinfo") else v for k, v in fields.items()}


def _store(v: Verified, user, body):
    s = v.statement
    att = Attestation(
        kind=s.kind,
        statement_sha256=v.statement_sha256,
        envelope=bytes(body),
        keyids=[k.keyid for k in v.keys],
        operator=v.speaker if s.kind != "rtt" else None,
        landmark=v.landmark,
        facility=v.facility,
        issued_at=s.issued_at,
        nonce=s.nonce,
        header=_header(s),
        scope=getattr(s, "scope", ""),
        observed_at=getattr(s, "observed_at", None) or getattr(s, "measured_at", None),
        period_start=getattr(s, "period_start", None),
        period_end=getattr(s, "period_end", None),
        chip_count=len(s.chips) if hasattr(s, "chips") else 1,
        uploaded_by=user,
        uploaded_by_org=user.organisation,
        received_at=v.received_at or timezone.now(),  # the time the checks judged the keys by
    )
    prepared = None
    if _small_location(s):
        # Its nonces, chips and sightings in one round trip, and its row too, except a node agent's:
        # that waits for its log index (hotpath.after_append), inserted once rather than also updated.
        with_row = not _node_agent_statement(s)
        prepared = Resolution(s.chip_ids, found=hotpath.insert_location(att, body, s.chips, with_row))
    elif hotpath.enabled():
        hotpath.insert_attestation(att, body)
    else:
        att.save(force_insert=True)
        StatementNonce.objects.bulk_create(
            [StatementNonce(keyid=k.keyid, nonce=s.nonce, attestation=att) for k in v.keys]
        )
    # Work that depends on no other statement (resolving the chips, writing this
    # statement's own rows) runs before the log's lock; appending takes the lock
    # and holds it to the commit, so everything that reads what other statements
    # wrote (movement, placements) runs after it, in log order.
    if prepared is None and isinstance(s, LocationStatement):
        prepared = _prepare_location(att, s)
    # The leaf is appended now so that placements and findings can cite it.
    att.log_index = append_leaf(attestation_leaf(v.envelope.raw_signatures, v.statement_sha256), "attestation")
    if not _node_agent_statement(s):  # a node agent's row is stored with it by hotpath.after_append
        _record_log_index(att)
    if isinstance(s, LocationStatement):
        found, chips = _location(att, s, v, user, prepared, body), prepared
    elif isinstance(s, UsageStatement):
        found, chips = _usage(att, s, v)
    else:
        found, chips = _rtt(att, s, v), None  # a landmark's: its treaty body is entitled to every finding
    evidence = {"statement": att.pk, "statement_sha256": att.statement_sha256, "log_index": att.log_index}
    own, others = _by_entitlement(found, chips, v.speaker)
    raise_findings(own, facility=v.facility, organisation=att.operator or v.facility.operator, evidence=evidence)
    _raise_for_custodians(others, v, evidence)
    flags = {}
    for d in own:
        flags[str(d.kind)] = flags.get(str(d.kind), 0) + 1
    # Of a chip registered to another party the speaker learns only that (ownership's one finding a chip).
    for d, _ in others:
        if d.kind == FindingKind.OTHER_OPERATOR:
            flags[str(d.kind)] = flags.get(str(d.kind), 0) + 1
    return Accepted(att, flags)


def _by_entitlement(found, chips, speaker):
    """The speaker's findings, and (finding, chip info) of those about chips registered to another party.

    What a statement's answer and its speaker's stored findings say is computed from the speaker's own
    data only. About a chip someone else holds, the checks read that party's data (where it last saw the
    chip, the usage it reported, its chip's model): binary search on those flags would read them out
    (ATTESTATION.md section 5; ARCHITECTURE.md, "no party speaks for another"). Those findings go whole to
    the parties entitled to them: the chip's custodian, the inspectorates of both places, the treaty body.
    """
    if chips is None:
        return found, []
    registered, own, others = chips.found, [], []
    for d in found:
        info = registered.get(d.chip_ref) if d.chip_pk is not None else None
        if info is not None and info[1] != speaker.pk:
            others.append((d, info))
        else:
            own.append(d)
    return own, others


def _raise_for_custodians(others, v, evidence):
    """Store the findings about other parties' chips under each chip's custodian, seen by the inspectorates
    of the statement's facility (country) and of the chip (other_country); never under the speaker (an
    operator reads findings by organisation, so the facility on the row shows the speaker nothing)."""
    if not others:
        return
    from registry.models import Organisation

    groups = {}
    for d, (_, custodian_id, _, country) in others:
        groups.setdefault((custodian_id, country or ""), []).append(d)
    orgs = Organisation.objects.in_bulk([c for c, _ in groups if c is not None])
    extra = {**evidence, "speaker": v.speaker.code}
    for (custodian_id, country), found in groups.items():
        raise_findings(
            found,
            facility=v.facility,
            organisation=orgs.get(custodian_id),
            country=v.facility.country,
            other_country=country if country != v.facility.country else "",
            evidence=extra,
        )


class Resolution:
    """A statement's chips resolved against the registry, kept as the registry's answer only.

    A million-chip statement must stay within the server's memory budget, so
    there is no second dict over every listed chip: lookups go to the rows
    found, in the statement's order.
    """

    __slots__ = ("chip_ids", "found")

    def __init__(self, chip_ids, found=None):
        self.chip_ids = chip_ids
        # {chip_ref: (pk, custodian_id, status, country)}, resolved here unless the caller did
        self.found = resolve_chips(chip_ids) if found is None else found

    def get(self, ref):
        return self.found.get(ref)

    def items(self):
        """(chip_ref, info or None) for every listed chip."""
        found = self.found
        return ((ref, found.get(ref)) for ref in self.chip_ids)

    def values(self):
        found = self.found
        return (found.get(ref) for ref in self.chip_ids)

    def known(self):
        """(chip_ref, chip pk) for the registered chips."""
        return ((ref, info[0]) for ref, info in self.found.items())


def _prepare_location(att, s):
    """Resolve the chips and store the sightings: {chip_ref: (pk, custodian_id, status, country) | None}."""
    chips = Resolution(s.chip_ids)
    if connection.vendor == "postgresql":
        # Chip ids and cluster codes passed the statement parser's patterns (CHIP_ID_RE,
        # REGISTRY_CODE_RE), which admit no tab, newline or backslash: safe as COPY text.
        head = f"{att.pk}\t"
        tail = f"\t{att.facility_id}\t{text_value(s.observed_at)}\n"
        lines = (
            f"{head}{info[0] if info is not None else NULL}\t{ref}\t{cluster or ''}{tail}"
            for (ref, cluster), info in zip(s.chips, chips.values(), strict=True)
        )
        with connection.cursor() as cursor:
            copy_lines(cursor.cursor, "attestations_sighting", SIGHTING_COLUMNS, lines)
    else:
        _insert_sightings(
            (att.pk, info[0] if info is not None else None, ref, cluster or "", att.facility_id, s.observed_at)
            for (ref, cluster), info in zip(s.chips, chips.values(), strict=True)
        )
    return chips


def _record_log_index(att):
    if hotpath.enabled():
        hotpath.set_log_index(att.pk, att.log_index)
    else:
        att.save(update_fields=["log_index"])


def _small_location(s):
    """A location statement of a few chips on PostgreSQL: stored with its sightings in one round trip."""
    return hotpath.enabled() and isinstance(s, LocationStatement) and len(s.chips) <= FOLD_INLINE_MAX


def _node_agent_statement(s):
    """A small partial location statement on PostgreSQL: what node agents send, many times a second
    across a fleet; its reads and writes after the append go in one round trip (hotpath.after_append)."""
    return _small_location(s) and s.scope != "complete"


def _location(att, s, v, user, chips, body):
    facility = v.facility
    found = F.ownership(att.pk, chips, v.speaker)
    speaker, registered = v.speaker.pk, chips.found
    if _node_agent_statement(s):
        elsewhere, open_rows = hotpath.after_append(
            att,
            body,
            facility.pk,
            s.observed_at,
            F.movement_window(),
            [pk for _, pk in chips.known()],
            _own(chips, speaker),
        )
    else:
        elsewhere = open_rows = None
    found += F.movement(att.pk, facility, s.observed_at, chips.known(), elsewhere=elsewhere)
    if s.scope == "complete":
        # A complete statement is a declaration: it moves placements and
        # leaves what it omits unaccounted for (its findings come from there).
        codes = set(Cluster.objects.filter(facility=facility).values_list("code", flat=True))
        listing = [(i, ref, cluster if cluster in codes else None) for i, (ref, cluster) in enumerate(s.chips, 1)]
        record_declaration(
            user,
            facility,
            s.observed_at,
            listing,
            attestation_id=str(att.pk),
            log_index=att.log_index,
            resolved=chips.found,
        )
    else:
        clusters = (
            v.clusters
            if v.clusters is not None
            else dict(Cluster.objects.filter(facility=facility).values_list("code", "pk"))
        )
        placeable = (
            (info[0], clusters.get(cluster))
            for ref, cluster in s.chips
            if (info := registered.get(ref)) is not None and info[1] == speaker and info[2] in PLACEABLE
        )
        place(
            placeable, facility, s.observed_at, PlacementSource.ATTESTATION, att.pk, att.log_index, open_rows=open_rows
        )
    if _node_agent_statement(s):
        return found  # its chips' last verification moved with hotpath.after_append's reads
    if len(s.chips) <= FOLD_INLINE_MAX:
        # A few rows, updated here (under the log's lock, so in log order and without lock-order
        # deadlocks) rather than costing the workers a relay and a task per statement.
        refresh_verification(_own(chips, speaker), s.observed_at, hotpath.verification_resolution())
    else:
        # The chips' last verification is folded in from the sightings after the commit. Emitted last, so
        # the relay hands the compliance evaluation of the moves above to the workers before this fold.
        emit("sightings.recorded", attestation=att.pk)
    return found


def _own(chips, speaker):
    """The pks of the listed chips the speaker holds: the only ones its sighting verifies (another
    operator listing a chip it does not hold must not keep the holder's chip from looking silent)."""
    registered = chips.found
    return [pk for ref, pk in chips.known() if registered[ref][1] == speaker]


def _insert_sightings(rows):
    """Store sighting rows by bulk inserts (the databases without COPY; PostgreSQL takes them as COPY lines)."""
    Sighting.objects.bulk_create(
        [
            Sighting(attestation_id=a, chip_id=c, chip_ref=r, cluster_code=cl, facility_id=f, observed_at=t)
            for a, c, r, cl, f, t in rows
        ],
        batch_size=5000,
    )


def _figures(m):
    fastest = max((x for x in (m.bf16_tflops, m.fp8_tflops, m.int8_tops) if x is not None), default=None)
    return (m.bf16_tflops * 1e12 if m.bf16_tflops else None, fastest * 1e12 if fastest else None, m.tdp_w)


def _bound_figures(models):
    """Figures no model of `models` exceeds: the highest peaks and the lowest power limit (estimate_flop's
    bound only grows as the peak grows and the power limit falls)."""
    figures = [_figures(m) for m in models]
    peaks16 = [f[0] for f in figures if f[0]]
    fastest = [f[1] for f in figures if f[1]]
    tdps = [f[2] for f in figures if f[2]]
    return (max(peaks16, default=None), max(fastest, default=None), min(tdps, default=None))


def _model_figures(chip_pks, others=frozenset()):
    """{chip pk: (fp16 peak FLOP/s, fastest peak FLOP/s, tdp W)} for chips whose model has the figures, and
    the same for the chips in `others` (registered to another party than the speaker) from their
    manufacturer's bound over the public catalogue."""
    rows = []
    for start in range(0, len(chip_pks), 10_000):
        rows += Chip.objects.filter(pk__any=Array(chip_pks[start : start + 10_000])).values_list(
            "pk", "model_id", "manufacturer_id"
        )
    models = {m.pk: m for m in AcceleratorModel.objects.filter(pk__in={model_id for _, model_id, _ in rows})}
    figures = {pk: _figures(models[model_id]) for pk, model_id, _ in rows}
    makers = {maker for pk, _, maker in rows if pk in others}
    if not makers:
        return figures, {}
    by_maker = {}
    for m in AcceleratorModel.objects.filter(manufacturer_id__in=makers):
        by_maker.setdefault(m.manufacturer_id, []).append(m)
    bounds = {maker: _bound_figures(ms) for maker, ms in by_maker.items()}
    return figures, {pk: bounds.get(maker, (None, None, None)) for pk, _, maker in rows if pk in others}


def _usage(att, s, v):
    chips = Resolution(s.chip_ids)
    known = dict(chips.known())
    speaker = v.speaker.pk
    others = {info[0] for info in chips.found.values() if info[1] != speaker}
    # A chip another party holds counts at its manufacturer's bound (the speaker can read its records'
    # compute, and must not read that party's chip model out of them); its own model still judges its
    # energy, in a finding for its custodian (_by_entitlement).
    figures, bounds = _model_figures(list(known.values()), others)
    tolerance = settings.CHIPREG_ENERGY_TOLERANCE
    records, found = [], []
    for ref, active_s, utilization, energy_j in s.chips:
        pk = known.get(ref)
        fp16 = peak = None
        if pk is not None:
            basis16, fastest, tdp = bounds.get(pk) or figures.get(pk, (None, None, None))
            if tdp:
                fp16 = estimate_flop(active_s, utilization, energy_j, basis16, tdp) if basis16 else None
                peak = estimate_flop(active_s, utilization, energy_j, fastest, tdp) if fastest else None
            tdp = figures.get(pk, (None, None, None))[2]
            if tdp and energy_exceeds_limit(active_s, energy_j, tdp, tolerance):
                found.append(F._d(FindingKind.IMPLAUSIBLE_USAGE, ref, pk, att.pk))
            if utilization > 0 and active_s > 0 and energy_j == 0:
                # A kernel ran for a measurable time and drew no energy at all.
                found.append(F._d(FindingKind.IMPLAUSIBLE_USAGE, ref, pk, att.pk))
        records.append(
            UsageRecord(
                attestation=att,
                # Bound to the chip only when the speaker holds it: cluster and operator-country windows follow
                # the chip, so another party's report of it would count against its holder (and poison the
                # holder's own later reports as double counts). Kept by reference, at the speaker's facility.
                chip_id=pk if pk not in others else None,
                chip_ref=ref,
                facility=v.facility,
                period_start=s.period_start,
                period_end=s.period_end,
                active_s=active_s,
                utilization=utilization,
                energy_j=energy_j,
                flop_fp16=fp16,
                flop_peak=peak,
            )
        )
    UsageRecord.objects.bulk_create(records, batch_size=5000)
    emit("usage.recorded", facilities=[v.facility.pk], attestation=att.pk)
    found += F.ownership(att.pk, chips, v.speaker)
    found += F.usage_overlaps(att.pk, v.facility, s.period_start, s.period_end, known)
    active = {ref: a for ref, a, _, _ in s.chips}
    flagged = {d.chip_ref for d in found if d.kind == FindingKind.IMPLAUSIBLE_USAGE}
    found += [
        d
        for d in F.usage_double_count(att.pk, s.period_start, s.period_end, known, active)
        if d.chip_ref not in flagged
    ]
    UsageRecord.objects.add_day_totals(att)
    return _dedupe(found), chips


def _rtt(att, s, v):
    info = Resolution([s.chip]).get(s.chip)
    pk = info[0] if info else None
    Sighting.objects.create(
        attestation=att, chip_id=pk, chip_ref=s.chip, facility=v.facility, observed_at=s.measured_at
    )
    found, km, bound = F.rtt_bound(att.pk, s, v.landmark, v.facility, pk)
    att.header = {**att.header, "distance_km": round(km, 3), "bound_km": round(bound, 3)}
    att.save(update_fields=["header"])
    if info is None:
        found.append(F._d(FindingKind.UNKNOWN_CHIP, s.chip, None, att.pk))
    return found


def _dedupe(found):
    seen, out = set(), []
    for d in found:
        key = (d.kind, d.chip_ref)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


__all__ = ["Accepted", "Discrepancy", "store"]
