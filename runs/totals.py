"""A run's attested compute, read from the stored daily totals (RunUsageDay): a few rows per run and day,
never the per-chip usage records. Compliance's rules read these on the basis they name."""

from django.db.models import Max, Min, Sum

from runs.models import RunUsageDay
from runs.storage import TOTALS

BASES = {"fp16": "flop_fp16", "peak": "flop_peak"}


def attested(run_ids):
    """{run pk: {total name: sum, "first_day", "last_day"}} of these runs (runs with no usage absent)."""
    rows = (
        RunUsageDay.objects.filter(run_id__in=list(run_ids))
        .values("run_id")
        .annotate(**{f: Sum(f) for f in TOTALS}, first_day=Min("day"), last_day=Max("day"))
        .order_by()
    )
    return {row.pop("run_id"): row for row in rows}


def attested_flop(run, basis="fp16"):
    """One run's attested compute on a basis (fp16 or peak)."""
    return float(attested([run.pk]).get(run.pk, {}).get(BASES[basis]) or 0.0)


def by_day(run):
    """[(day, {total: sum over the run's facilities})] in day order: the run page's chart."""
    rows = RunUsageDay.objects.filter(run=run).values("day").annotate(**{f: Sum(f) for f in TOTALS}).order_by("day")
    return [(row.pop("day"), row) for row in rows]


def facilities(run, within=None):
    """[(facility code, {total: sum})] of the facilities that reported work for the run (of those in the
    queryset of facilities `within`, when given: a reader's view)."""
    qs = RunUsageDay.objects.filter(run=run)
    if within is not None:
        qs = qs.filter(facility__in=within)
    rows = qs.values("facility__code").annotate(**{f: Sum(f) for f in TOTALS}).order_by("facility__code")
    return [(row.pop("facility__code"), row) for row in rows]
