"""Usage statements: one usage record per chip with its compute bounds, the daily totals, the findings."""

from django.conf import settings

from attestations import findings as F
from attestations.kinds.resolution import Resolution
from attestations.models import ChiplessUsageRecord, UsageRecord
from core.lookups import Array
from inventory.choices import FindingKind, FindingSource
from inventory.services import watch
from outbox import emit
from protocol.usage import energy_exceeds_limit, estimate_flop, witnessed_active_s
from registry.catalog import fastest_peak
from registry.models import AcceleratorModel, Chip
from runs import services as runs


def _figures(m):
    """(FP16 peak FLOP/s, fastest peak FLOP/s, tdp W). The fastest precision is taken over every precision
    the chip has, BF16 and FP8, FP6, FP4 included, so its bound is never below the FP16 one: `flop_peak` is
    the larger of the two bounds (the draft agreement's "FP16-equivalent or actual operations, whichever is
    higher"), and the `higher` basis reads it."""
    fastest = fastest_peak(m.figures())
    return (m.bf16_tflops * 1e12 if m.bf16_tflops else None, fastest * 1e12 if fastest else None, m.tdp_w)


def _bound_figures(models):
    """Figures no model of `models` exceeds: the highest peaks and the lowest power limit (estimate_flop's
    bound only grows as the peak grows and the power limit falls)."""
    figures = [_figures(m) for m in models]
    peaks16 = [f[0] for f in figures if f[0]]
    fastest = [f[1] for f in figures if f[1]]
    tdps = [f[2] for f in figures if f[2]]
    return (max(peaks16, default=None), max(fastest, default=None), min(tdps, default=None))


def model_figures(chip_pks, others=frozenset()):
    """{chip pk: (fp16 peak FLOP/s, fastest peak FLOP/s, tdp W)} for chips whose model has the figures, and
    the same for the chips in `others` (registered to another party than the speaker) from their
    manufacturer's bound over the public catalogue, with a fourth figure: the maker's highest power limit, what
    their energy witnesses active time by (as for a chip the registry does not know, _unregistered_bounds).
    Judged by the chip's own power limit, the record's compute, which the speaker reads, would tell the power
    limit of another party's chip, its model (tests/authz_review/test_reads_usage_model.py)."""
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
    catalogue = list(AcceleratorModel.objects.filter(manufacturer_id__in=makers))
    bounds = _makers_bounds(catalogue, lambda m: m.manufacturer_id)
    highest = _highest_tdps(catalogue, lambda m: m.manufacturer_id)
    return figures, {
        pk: (*bounds.get(maker, (None, None, None)), highest.get(maker)) for pk, _, maker in rows if pk in others
    }


def _makers_bounds(models, maker_of):
    """{maker (as `maker_of` names it): its bound over `models`} (_bound_figures of each maker's models)."""
    by_maker = {}
    for m in models:
        by_maker.setdefault(maker_of(m), []).append(m)
    return {maker: _bound_figures(ms) for maker, ms in by_maker.items()}


def _highest_tdps(models, maker_of):
    """{maker (as `maker_of` names it): the highest power limit of its `models`} (those that give one)."""
    highest = {}
    for m in models:
        if m.tdp_w:
            highest[maker_of(m)] = max(highest.get(maker_of(m), 0.0), m.tdp_w)
    return highest


def _unregistered_bounds(refs):
    """({manufacturer code: (fp16, fastest, tdp)} bounds over the public catalogue, {manufacturer code: its
    highest power limit}), for the makers named by chip ids the registry does not know: their work still counts,
    at the most their maker's chips could have done. The highest power limit is what their energy witnesses
    active time by (the fewest seconds it can witness: an honest report of any of the maker's chips is never
    stretched past its own active time)."""
    codes = {ref.partition(":")[0] for ref in refs}
    models = list(AcceleratorModel.objects.filter(manufacturer__code__in=codes).select_related("manufacturer"))
    return _makers_bounds(models, lambda m: m.manufacturer.code), _highest_tdps(models, lambda m: m.manufacturer.code)


def record_bounds(active_s, utilization, energy_j, figures, witness_tdp, period_s, tolerance):
    """(FLOP on the FP16 basis, FLOP at the fastest precision) of one reported chip, from `figures` (fp16 peak,
    fastest peak, tdp: its model's, or a bound's); None where the figure is unknown.

    Counted on the active time the energy witnesses when the report's is too short for it (a month of full
    power reported as a minute active counts the month, not the minute: protocol.usage), by the chip's own
    power limit (`witness_tdp`: its model's, or its maker's highest for a chip the registry does not know), not
    the bound's lowest one, which would stretch an honest report of a hungrier chip."""
    basis16, fastest, tdp = figures
    active = witnessed_active_s(active_s, energy_j, witness_tdp, period_s, tolerance) if witness_tdp else active_s
    return (
        estimate_flop(active, utilization, energy_j, basis16, tdp) if basis16 else None,
        estimate_flop(active, utilization, energy_j, fastest, tdp) if fastest else None,
    )


def resolve_run(s, v):
    """(run pk, None) when the statement names a run its speaker declared before the period began, for the
    statement's facility, and has not withdrawn; else (None, the finding kind), or (None, None) when it names
    none; (run pk, the finding kind) for a run the treaty body objected to or prohibited (runs.attribution).
    Never a refusal (ATTESTATION.md 3.2)."""
    if s.run is None:
        return None, None
    return runs.attribution(s.run, v.speaker.pk, s.period_start, v.facility.pk, s.period_end)


def store(att, s, v):
    """The records, the daily totals, the run's totals and the findings: (findings, the Resolution).

    `att.run_id` is the run the records are attributed to (resolve_run, before the row was stored)."""
    chips = Resolution(s.chip_ids)
    known = dict(chips.known())
    speaker = v.speaker.pk
    others = {info[0] for info in chips.found.values() if info[1] != speaker}
    # A chip another party holds counts at its manufacturer's bound, its energy witnessing active time at the
    # maker's highest power limit (the speaker can read its records' compute, and must not read that party's
    # chip model out of them), and its energy is judged against that limit too: judged against its own model's,
    # the finding (and the alert whose log entry anyone can count) told the speaker the model's power limit.
    figures, bounds = model_figures(list(known.values()), others)
    # A chip the registry does not know counts at its maker's bound too: work on unregistered chips is work
    # (an unknown_chip finding says the rest), not zero FLOP a facility's unexplained compute never sees.
    unregistered, highest_tdp = _unregistered_bounds(ref for ref, *_ in s.chips if ref not in known)
    tolerance = settings.CHIPREG_ENERGY_TOLERANCE
    period_s = (s.period_end - s.period_start).total_seconds()

    def bounds_of(active_s, utilization, energy_j, basis16, fastest, tdp, witness_tdp):
        return record_bounds(active_s, utilization, energy_j, (basis16, fastest, tdp), witness_tdp, period_s, tolerance)

    records, chipless, found = [], [], []
    worked = {}  # {ref: (pk, active seconds as counted)} of the speaker's own chips that worked
    for ref, active_s, utilization, energy_j in s.chips:
        pk = known.get(ref)
        fp16 = peak = None
        if pk is None:
            basis16, fastest, tdp = unregistered.get(ref.partition(":")[0], (None, None, None))
            if tdp:
                maker = ref.partition(":")[0]
                fp16, peak = bounds_of(active_s, utilization, energy_j, basis16, fastest, tdp, highest_tdp.get(maker))
        else:
            own_tdp = figures.get(pk, (None, None, None))[2]
            if pk in bounds:  # another party's chip: its maker's figures, never its own model's
                basis16, fastest, tdp, witness_tdp = bounds[pk]
            else:
                basis16, fastest, tdp = figures.get(pk, (None, None, None))
                witness_tdp = own_tdp
            if tdp:
                fp16, peak = bounds_of(active_s, utilization, energy_j, basis16, fastest, tdp, witness_tdp)
            tdp = own_tdp
            if pk not in others and (active_s > 0 or energy_j > 0):
                # The speaker's own chip worked: for how long, as its work is counted (its own power limit).
                counted = witnessed_active_s(active_s, energy_j, tdp, period_s, tolerance) if tdp else active_s
                worked[ref] = (pk, counted)
            # The speaker's own chip against its own model's power limit; another party's against its maker's highest.
            if witness_tdp and energy_exceeds_limit(active_s, energy_j, witness_tdp, tolerance):
                found.append(F._d(FindingKind.IMPLAUSIBLE_USAGE, ref, pk, att.pk))
            if utilization > 0 and active_s > 0 and energy_j == 0:
                # A kernel ran for a measurable time and drew no energy at all.
                found.append(F._d(FindingKind.IMPLAUSIBLE_USAGE, ref, pk, att.pk))
        row = {
            "attestation": att,
            "chip_ref": ref,
            "facility": v.facility,
            "period_start": s.period_start,
            "period_end": s.period_end,
            "active_s": active_s,
            "utilization": utilization,
            "energy_j": energy_j,
            "flop_fp16": fp16,
            "flop_peak": peak,
            "workload": s.workload or "",
        }
        # Bound to the chip only when the speaker holds it: another party's report of it would poison the
        # holder's own later reports as double counts and two-places findings (and read as the chip's own
        # history), a former holder's of its own time too (a review found binding those raised findings
        # against the honest holder on the former's word). Kept by reference, at the speaker's facility
        # (whose windows count it): a ChiplessUsageRecord, as for a chip the registry does not know.
        if pk is not None and pk not in others:
            records.append(UsageRecord(chip_id=pk, run_id=att.run_id, **row))
        else:
            chipless.append(ChiplessUsageRecord(run_id=att.run_id, **row))
    UsageRecord.objects.bulk_create(records, batch_size=5000)
    ChiplessUsageRecord.objects.bulk_create(chipless, batch_size=5000)
    if att.run_id is not None:
        # The run's attested compute counts every record of the statement, those kept by reference too.
        runs.record_usage(att.run_id, v.facility.pk, s.period_start, _totals(records + chipless))
    # `runs`: the run whose attested compute moved, for the evaluations that judge runs by it.
    # The facilities its chips were placed at during the period too: their clusters' and operators' windows
    # count the work as well (compliance.storage's _USAGE).
    facilities = sorted({v.facility.pk} | _placed_during(att.pk, v.facility, s.period_start, s.period_end))
    emit("usage.recorded", facilities=facilities, attestation=att.pk, runs=[att.run_id] if att.run_id else [])
    found += F.ownership(att.pk, chips, v.speaker)
    history = F.chip_history_since([pk for pk, _ in worked.values()], s.period_start)
    found += F.worked_off_the_books(att.pk, v.facility, s, worked, history, chips.found)
    found += F.worked_before_custody(att.pk, v.facility, s, worked, history, v.speaker)
    lost_then = F.worked_while_lost(s, worked, history, chips.found)
    if lost_then:
        # Sightings whatever their status now (and whenever reported: the history placed the work in the loss).
        watch.raise_sightings(
            {ref: chips.found[ref] for ref in lost_then},
            source=FindingSource.ATTESTATION,
            source_id=str(att.pk),
            country=v.facility.country,
            when=s.period_end,
            log_index=att.log_index,
            reported_since=lost_then,
        )
    found += F.usage_overlaps(att.pk, v.facility, s.period_start, s.period_end, known)
    found += F.usage_elsewhere(att.pk, v.facility, s.period_start, s.period_end)
    found += F.late_filing(att.pk, att.received_at, s.period_end)
    active = {ref: a for ref, a, _, _ in s.chips}
    flagged = {d.chip_ref for d in found if d.kind == FindingKind.IMPLAUSIBLE_USAGE}
    found += [
        d
        for d in F.usage_double_count(att.pk, s.period_start, s.period_end, known, active)
        if d.chip_ref not in flagged
    ]
    UsageRecord.objects.add_day_totals(att)
    return _dedupe(found), chips


def _placed_during(attestation_id, facility, start, end):
    """The speaker's facilities (those of `facility`'s operator) where the statement's chips (those bound to a
    chip) were placed at some time in its period: where compliance.storage's _USAGE counts its work too."""
    during = F.own_placements_during(attestation_id, facility, start, end)
    return set(during.values_list("facility_id", flat=True).distinct())


def _totals(records):
    """What a statement adds to its run's totals (runs.storage.TOTALS), summed here from the records it
    just built rather than read back from the table."""
    return {
        "statements": 1,
        "records": len(records),
        "flop_fp16": sum(r.flop_fp16 for r in records if r.flop_fp16 is not None),
        "flop_peak": sum(r.flop_peak for r in records if r.flop_peak is not None),
        "active_s": sum(r.active_s for r in records),
        "energy_j": sum(r.energy_j for r in records),
    }


def _dedupe(found):
    seen, out = set(), []
    for d in found:
        key = (d.kind, d.chip_ref)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
