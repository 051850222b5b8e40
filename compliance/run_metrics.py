"""The values of the rules on declared runs and on models, from the runs' attested compute.

A run's attested compute is the sum of its RunUsageDay rows (runs.models: the
usage statements that named it and passed its checks, folded in by their own
transactions) on the rule's basis (attestations.bases). Three metrics read it:

- `run_attested_compute`: the run's attested FLOP.
- `run_attested_over_plan`: attested / planned FLOP, a ratio: a rule of 1.1
  with `gt` alerts once a run has done more than 10% more than it declared
  (the margin is the rule's value, so the treaty body sets it and versions it
  like any threshold).
- `model_compute` (scope `model`): the attested FLOP of every run an operator
  declared under one model name, summed ("the cumulative amount of
  computation used for its training", EU AI Act Art. 51(2)). A model's key is
  `<operator pk>:<digest of the model name>` (a name may be longer than an
  alert's subject key); its label says the operator and the name.

A run's label is its code. Subjects copy what an alert needs for access: the run's operator, and one
country (an alert row holds one: the first of the run's countries, the
countries of its declared facilities and clusters; the alert's log event is
readable in all of them). A model's countries are its runs'.

Every run with any attested compute is a subject of a full evaluation; an
incremental one evaluates the runs a usage event names (`runs`) and their
models.
"""

import hashlib
import unicodedata
from typing import NamedTuple

from django.db.models import Sum

from attestations.bases import record_field
from compliance.choices import Metric, Scope


class Computed(NamedTuple):
    """A run's or a model's label, country and operator (for the alert), planned FLOP and attested FLOP
    per stored total (flop_fp16, flop_peak), and its runs' pks (the evidence's)."""

    label: str
    country: str
    operator_id: int
    planned: float
    flop: dict
    runs: tuple
    kind: str = ""  # a run's kind (rules may judge only some kinds); blank for a model


def model_key(operator_id, model_name):
    return f"{operator_id}:{hashlib.sha256(same_model(model_name).encode()).hexdigest()[:32]}"


def same_model(model_name):
    """A model's name as the registry compares it: one model however its runs spell it (case, Unicode forms,
    spaces, hyphens, underscores: "Frontier-7", "frontier 7" and "FRONTIER_7" are one model), so that a
    cumulative count (EU AI Act Art. 51(2)) is not split by respelling the name."""
    folded = unicodedata.normalize("NFKC", model_name).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in folded).split())


def _attested(run_ids=None):
    """{run pk: {flop_fp16, flop_peak}} summed over the runs' daily rows (every run with any, when None)."""
    from runs.models import RunUsageDay

    rows = RunUsageDay.objects.all() if run_ids is None else RunUsageDay.objects.filter(run_id__in=list(run_ids))
    rows = rows.values("run_id").annotate(flop_fp16=Sum("flop_fp16"), flop_peak=Sum("flop_peak")).order_by()
    return {row.pop("run_id"): row for row in rows}


_TOTALS = ("flop_fp16", "flop_peak")
_RUN_FIELDS = ("pk", "code", "model_name", "countries", "operator_id", "planned_flop")


def _run(pk, code, countries, operator_id, planned, kind, flop):
    # The run's public code, as the prohibited-declaration alert labels it (the console links it to the run).
    return Computed(code, countries[0] if countries else "", operator_id, planned, flop, (pk,), kind)


def runs(keys=None):
    """{run pk as text: Computed} of these runs (of every run with attested compute, when None)."""
    from runs.models import Run

    attested = _attested(None if keys is None else [int(k) for k in keys if k.isdigit()])
    ids = list(attested) if keys is None else [int(k) for k in keys if k.isdigit()]
    zero = {"flop_fp16": 0.0, "flop_peak": 0.0}
    rows = Run.objects.filter(pk__in=ids).values_list("pk", "code", "countries", "operator_id", "planned_flop", "kind")
    return {str(pk): _run(pk, *rest, attested.get(pk, zero)) for pk, *rest in rows}


def models(keys=None):
    """{model key: Computed} of these models (of every model with attested compute, when None)."""
    from registry.models import Organisation
    from runs.models import Run

    if keys is None:
        attested = _attested()
        rows = Run.objects.filter(pk__in=list(attested))
    else:
        operators = {int(k.split(":")[0]) for k in keys if k.split(":")[0].isdigit()}
        rows = Run.objects.filter(operator_id__in=operators)
        attested = None
    found = {}
    for pk, _code, model_name, countries, operator_id, planned in rows.values_list(*_RUN_FIELDS):
        key = model_key(operator_id, model_name)
        if keys is None or key in keys:
            found.setdefault(key, []).append((pk, model_name, countries, operator_id, planned))
    if attested is None:
        attested = _attested([pk for runs_ in found.values() for pk, *_ in runs_])
    codes = dict(Organisation.objects.filter(pk__in={r[0][3] for r in found.values()}).values_list("pk", "code"))
    return {key: _model(runs_, attested, codes) for key, runs_ in found.items()}


def _model(model_runs, attested, codes):
    _, name, _, operator_id, _ = model_runs[0]
    countries = sorted({c for _, _, cs, _, _ in model_runs for c in cs})
    flop = {f: sum(float(attested.get(pk, {}).get(f) or 0.0) for pk, *_ in model_runs) for f in _TOTALS}
    planned = sum(p for *_, p in model_runs)
    label = f"{codes.get(operator_id, '?')}: {name}"
    return Computed(
        label, countries[0] if countries else "", operator_id, planned, flop, tuple(sorted(pk for pk, *_ in model_runs))
    )


def countries(scope, keys):
    """{subject key: the countries of its runs} (every reader country of a run's or a model's alert)."""
    from runs.models import Run

    found = computed(scope, keys)
    runs_ = dict(
        Run.objects.filter(pk__in=[pk for c in found.values() for pk in c.runs]).values_list("pk", "countries")
    )
    return {key: sorted({cc for pk in c.runs for cc in runs_.get(pk) or []}) for key, c in found.items()}


def computed(scope, keys=None):
    return runs(keys) if scope == Scope.RUN else models(keys)


def value(rule, subject):
    """The rule's value for a run or a model (a Computed, or None for a subject with nothing)."""
    if subject is None or (subject.kind and not rule.judges_kind(subject.kind)):
        return 0.0
    flop = float(subject.flop.get(record_field(rule.basis)) or 0.0)
    if rule.metric == Metric.RUN_OVER_PLAN:
        return flop / subject.planned if subject.planned > 0 else 0.0
    return flop


def subjects_for_runs(run_ids):
    """{Scope.RUN: the runs, Scope.MODEL: their models}: what a usage event naming these runs touches."""
    from runs.models import Run

    rows = list(Run.objects.filter(pk__in=list(run_ids)).values_list("pk", "operator_id", "model_name"))
    return {
        Scope.RUN: {str(pk) for pk, _, _ in rows},
        Scope.MODEL: {model_key(op, name) for _, op, name in rows},
    }


def sources(subjects):
    """{subject key: chips_in-shaped rows} for the evidence of these runs' or models' alerts: per run its
    declaration (source `run`, its code, its log index) and every statement attributed to it (source
    `attestation`, its id, its log index), with the chips those statements reported; one query each."""
    from attestations.models import Attestation, UsageRecord
    from runs.models import Run

    by_run = {}
    for key, subject in subjects.items():
        for pk in subject.runs:
            by_run.setdefault(pk, []).append(key)
    out = {key: [] for key in subjects}
    for pk, code, log_index in Run.objects.filter(pk__in=list(by_run)).values_list("pk", "code", "log_index"):
        for key in by_run[pk]:
            out[key].append(("", "run", code, log_index, key))
    statements = Attestation.objects.filter(run_id__in=list(by_run)).values_list("run_id", "pk", "log_index")
    logged = {}
    for run_id, pk, log_index in statements:
        logged[pk] = log_index
        for key in by_run[run_id]:
            out[key].append(("", "attestation", str(pk), log_index, key))
    chips = UsageRecord.objects.filter(run_id__in=list(by_run)).values_list("run_id", "chip_ref", "attestation_id")
    for run_id, ref, att in chips.distinct():
        for key in by_run[run_id]:
            out[key].append((ref, "attestation", str(att), logged.get(att), key))
    return out
