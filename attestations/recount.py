"""Recounting stored usage when the model of a chip, or a model's figures, is corrected.

A usage record's compute bounds are computed when its statement is stored, from its chip's model as the
registry then had it. The holder names a chip's model when it registers it; its manufacturer (or the treaty
body) corrects it, and the treaty body corrects a model's catalogue figures. Either says the chip always was
what the correction says: work reported while H100s stood registered as H20s is H100 work, and counted at H20
figures it would stay 6.7 times smaller in every window, cluster, run and model total for good. So the records
of the chips a correction touches are counted again from what their statements reported (active time,
utilisation, energy), by kinds.usage.record_bounds at the chips' models now, and the stored daily totals
(UsageDay, RunUsageDay) move by the difference in the same transaction; the compliance evaluation then judges
the facilities and runs again (`usage.recorded`).

What is recounted: the records bound to a chip (its holder's own reports: UsageRecord). A report of a chip
another party holds, or of one the registry does not know, is counted at its maker's bound over the whole
catalogue and kept by reference (ChiplessUsageRecord): no correction of one chip's model moves it.

The records are locked while they are recounted, so two corrections in quick succession each add the
difference from what the other left; a statement stored after a correction reads the corrected model already
(both take the log's lock: the correction to log itself, the statement to append).
"""

from collections import defaultdict
from datetime import UTC

from django.conf import settings
from django.db import transaction

from attestations.kinds.usage import model_figures, record_bounds
from attestations.models import UsageRecord
from attestations.storage import usage_days
from inventory.models import Placement
from outbox import emit
from registry.models import Chip
from runs import services as runs

CHUNK = 5_000  # chips per transaction: a catalogue correction may touch every chip of a model

_FIELDS = (
    "pk",
    "chip_id",
    "facility_id",
    "run_id",
    "period_start",
    "period_end",
    "active_s",
    "utilization",
    "energy_j",
    "flop_fp16",
    "flop_peak",
    "attestation__operator_id",
    "attestation__uploaded_by_org_id",
)


def recount_chips(chip_pks):
    """Recount the usage records of these chips (their model was corrected). Returns how many changed."""
    chip_pks = sorted(set(chip_pks))
    return sum(_recount(chip_pks[start : start + CHUNK]) for start in range(0, len(chip_pks), CHUNK))


def recount_model(model_pk):
    """Recount the usage records of every chip of this model (its figures were corrected)."""
    changed, after = 0, 0
    while chunk := list(
        Chip.objects.filter(model_id=model_pk, pk__gt=after).order_by("pk").values_list("pk", flat=True)[:CHUNK]
    ):
        changed += _recount(chunk)
        after = chunk[-1]
    return changed


@transaction.atomic
def _recount(chip_pks):
    rows = list(
        UsageRecord.objects.select_for_update(of=("self",)).filter(chip_id__in=chip_pks).order_by("pk").values(*_FIELDS)
    )
    if not rows:
        return 0
    figures, _ = model_figures(sorted({r["chip_id"] for r in rows}))
    tolerance = settings.CHIPREG_ENERGY_TOLERANCE
    corrected, days, run_days = [], defaultdict(lambda: [0.0] * 4), defaultdict(lambda: [0.0, 0.0])
    facilities, touched_runs = set(), set()
    for r in rows:
        own = figures.get(r["chip_id"], (None, None, None))
        fp16, peak = (None, None)
        if own[2]:
            period_s = (r["period_end"] - r["period_start"]).total_seconds()
            fp16, peak = record_bounds(r["active_s"], r["utilization"], r["energy_j"], own, own[2], period_s, tolerance)
        if (fp16, peak) == (r["flop_fp16"], r["flop_peak"]):
            continue
        corrected.append(UsageRecord(pk=r["pk"], flop_fp16=fp16, flop_peak=peak))
        d16, dpk = (fp16 or 0.0) - (r["flop_fp16"] or 0.0), (peak or 0.0) - (r["flop_peak"] or 0.0)
        who = (r["attestation__operator_id"], r["attestation__uploaded_by_org_id"])
        start = (r["facility_id"], _day(r["period_start"]), *who)
        end = (r["facility_id"], _day(r["period_end"]), *who)
        days[start][0] += d16
        days[start][1] += dpk
        days[end][2] += d16
        days[end][3] += dpk
        facilities.add(r["facility_id"])
        if r["run_id"] is not None:
            totals = run_days[(r["run_id"], r["facility_id"], r["period_start"])]
            totals[0] += d16
            totals[1] += dpk
            touched_runs.add(r["run_id"])
    if not corrected:
        return 0
    UsageRecord.objects.bulk_update(corrected, ["flop_fp16", "flop_peak"], batch_size=1000)
    usage_days.add_corrections([(*key, *totals) for key, totals in sorted(days.items())])
    for (run, facility, period_start), (d16, dpk) in sorted(run_days.items()):
        moved = {"statements": 0, "records": 0, "flop_fp16": d16, "flop_peak": dpk, "active_s": 0.0, "energy_j": 0.0}
        runs.record_usage(run, facility, period_start, moved)
    # The facilities the statements named and those the chips were placed at (whose clusters' and operators'
    # windows count the work through placements: compliance.storage's _USAGE; a superset is only judged again),
    # and the runs whose attested compute moved.
    facilities |= set(Placement.objects.filter(chip_id__in=chip_pks).values_list("facility_id", flat=True))
    emit("usage.recorded", facilities=sorted(facilities), runs=sorted(touched_runs))
    return len(corrected)


def _day(when):
    return when.astimezone(UTC).date()
