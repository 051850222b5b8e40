"""The treaty body's review of declared runs: which rules a declaration crosses, and what follows.

A run's planned compute is judged at its declaration against the rules in
force whose metric is `run_planned_compute` (compliance.choices.Metric):

- above a rule whose effect is `prohibit`: recorded as prohibited, and alerted
  at once (an alert of the rule's severity on the run, with the declaration's
  log entry as its evidence) in the declaration's transaction;
- else above a rule whose effect is `review`: under review, and approved by
  silence once the rule's review period (`review_days`) passes with no
  decision (runs.tasks.approve_by_silence);
- else recorded below the threshold.

The run rows are written by runs.services (a lower layer, which reads no rule);
this module hands it the verdict. Decisions are the treaty body's.
"""

from django.db import transaction
from django.utils import timezone

from compliance.choices import AlertKind, AlertState, Effect, Metric, Scope
from compliance.evaluation import _notify
from compliance.evidence import seal
from compliance.models import Alert, AlertEvidence, AlertTransition, ThresholdRule
from core.errors import Forbidden
from registry.choices import OrgKind
from runs import services as runs
from runs import totals
from runs.choices import RunState
from transparency.events import append_event


def _crossed(rules, planned_flop, effect):
    return [r for r in rules if r.effect == effect and r.crosses(planned_flop)]


def classify(planned_flop, now=None, kind=None, until=None):
    """The Verdict of the rules on a run of this kind planning this much compute (a rule naming run kinds judges
    only those: the draft's lower prohibition of post-training runs): the rules in force now and those the treaty
    body has scheduled to take effect by `until` (the run's planned end), which govern its work when it is done.
    Judged by today's alone, a run declared before a published tightening took effect, to work after it, kept
    the old terms for all its work (a later version does not reclassify a run).

    Of several prohibitions crossed, the lowest threshold is cited (any one prohibits), a version in force now
    before a scheduled one; of several review rules, the one with the longest review period governs (the
    treaty body is owed the longest silence)."""
    now = now or timezone.now()
    rules = _rules(now, kind, until)
    prohibitions = sorted(
        _crossed(rules, planned_flop, Effect.PROHIBIT), key=lambda r: (r.effective_from > now, r.value, r.key)
    )
    if prohibitions:
        return _verdict(RunState.PROHIBITED, prohibitions[0]), prohibitions[0]
    return _review(rules, planned_flop, now)


def _rules(now, kind, until=None):
    """The run_planned_compute rules that judge a run of this kind: in force now, or at some time until `until`
    as the treaty body has declared them (ThresholdRule.objects.in_force_during)."""
    rules = ThresholdRule.objects.in_force_during(now, max(until or now, now)).filter(metric=Metric.RUN_PLANNED)
    return [r for r in rules if r.judges_kind(kind)]


def _review(rules, planned_flop, now):
    """(Verdict, rule) of the review rules of `rules` this much compute crosses (the one with the longest review
    period; of equal ones, a version in force now), or below the threshold (None)."""
    reviews = sorted(
        _crossed(rules, planned_flop, Effect.REVIEW),
        key=lambda r: (-(r.review_days or 0), r.effective_from > now, r.key),
    )
    if reviews:
        return _verdict(RunState.UNDER_REVIEW, reviews[0]), reviews[0]
    return runs.Verdict(RunState.BELOW_THRESHOLD), None


def _declared_for_model(operator_id, model_name):
    """The compute of the operator's runs of this model (as run_metrics compares model names) not withdrawn:
    what the model's training is already declared at, or has been attested to have done where that is more.
    Each run counts the larger of its plan and its attested compute on the higher basis (work past a run's plan
    is the model's training all the same); a prohibited run only its attested work (it may not run, but what
    was done for it was done)."""
    from compliance.run_metrics import same_model
    from runs.models import Run

    form = same_model(model_name)
    rows = Run.objects.filter(operator_id=operator_id, withdrawn_at__isnull=True)
    same = [
        (pk, 0.0 if state == RunState.PROHIBITED else planned)
        for pk, name, planned, state in rows.values_list("pk", "model_name", "planned_flop", "state")
        if same_model(name) == form
    ]
    done = totals.attested([pk for pk, _ in same])
    return sum(
        max(planned, float(done.get(pk, {}).get("flop_fp16") or 0), float(done.get(pk, {}).get("flop_peak") or 0))
        for pk, planned in same
    )


def _verdict(state, rule):
    return runs.Verdict(state, rule.key, rule.version, rule.value, rule.review_days)


@transaction.atomic
def declare(user, values, now=None):
    """Declare a run: checked, classified, recorded and logged; alerted at once when prohibited."""
    now = now or timezone.now()
    runs.check_plan(user, values, now)
    # One declaration of the operator's at a time: each is judged with the runs of its model declared before it.
    runs.lock_declarations(user.organisation)
    until = values["planned_end"]
    verdict, rule = classify(values["planned_flop"], now, values.get("kind"), until)
    if verdict.state == RunState.BELOW_THRESHOLD:
        # One model trained in runs each below the review line is reviewed once they add up past it (Article
        # IV(2) reports a training run of 1e22 FLOP and more; splitting it into declarations does not exempt it).
        # Only the review rules judge the sum: a model declared past a prohibition in all (a base model and its
        # fine-tune) reviews this run, it does not prohibit it (and must not leave it unreviewed either).
        together = values["planned_flop"] + _declared_for_model(user.organisation_id, values["model_name"])
        cumulative, crossed = _review(_rules(now, values.get("kind"), until), together, now)
        if cumulative.state == RunState.UNDER_REVIEW:
            verdict, rule = cumulative, crossed
    run = runs.declare(user, values, verdict, now)
    if run.state == RunState.PROHIBITED:
        raise_prohibited(run, rule)
    return run


def raise_prohibited(run, rule):
    """The alert on a run declared above a prohibition: one per run and rule version, its evidence the
    declaration's log entry. Its readers: the operator and the inspectorates of the run's countries (the
    alert row holds one country, the first of the run's: AlertQuerySet reads by one)."""
    country = run.countries[0] if run.countries else ""
    alert = Alert.objects.create(
        kind=AlertKind.THRESHOLD,
        rule=rule,
        group=f"rule:{rule.pk}",
        scope=Scope.RUN,
        subject_key=str(run.pk),
        subject_label=run.code,
        operator=run.operator,
        country=country,
        severity=rule.severity,
        state=AlertState.OPEN,
        title=f"{rule.name}: run {run.code} ({run.model_name}) plans {run.planned_flop:,.4g} FLOP "
        f"{'>' if rule.comparison == 'gt' else '≥'} {rule.value:,.4g}",
        value=run.planned_flop,
        threshold=rule.value,
    )
    sources = [{"source": "run", "id": run.code, "log_index": run.log_index}]
    # Sealed like every alert's evidence (compliance.evidence): a checkpoint covering the declaration's log
    # entry, signed now if none does, with its inclusion proof, so the bundle verifies offline.
    evidence = AlertEvidence.objects.create(
        alert=alert,
        value=run.planned_flop,
        threshold=rule.value,
        comparison=rule.comparison,
        sources=sources,
        **seal([sources]).fields(sources),
    )
    alert.log_index = append_event(
        "alert.raised",
        f"alert:{alert.pk}",
        {
            "alert": alert.pk,
            "kind": alert.kind,
            "rule": f"{rule.key} v{rule.version}",
            "scope": alert.scope,
            "subject": run.code,
            "severity": alert.severity,
            "value": alert.value,
            "threshold": alert.threshold,
            "sources": evidence.sources,
            "checkpoint_size": evidence.checkpoint_size,
            "operator": run.operator.code,
            "country": country,
        },
        parties=[run.operator.code],
        countries=list(run.countries),
    )
    alert.save(update_fields=["log_index"])
    AlertTransition.objects.create(
        alert=alert, to_state=AlertState.OPEN, reason="run declared above a prohibition", log_index=alert.log_index
    )
    _notify(alert, "alert.raised")
    return alert


def decides_runs(user):
    org = getattr(user, "organisation", None)
    return bool(user.is_superuser or (org is not None and org.kind == OrgKind.TREATY_BODY))


@transaction.atomic
def decide(user, run, approve, reason=""):
    """The treaty body's approval of, or objection to, a run under review. An objection also flags the work
    already reported for the run (flag_work_of_objected)."""
    if not decides_runs(user):
        raise Forbidden("Only the treaty body decides on declared runs.")
    run = runs.decide(user, run, approve, reason)
    if run.state == RunState.OBJECTED:
        flag_work_of_objected(run)
    return run


def flag_work_of_objected(run):
    """A `run_objected` finding on every usage statement already attributed to a run the treaty body has just
    objected to, as a statement reporting work for it afterwards carries (runs.services.attribution): the
    work done while it was under review stays the run's, and is seen as the work of a run the treaty refused."""
    from attestations.models import Attestation
    from inventory.choices import FindingKind, FindingSource
    from inventory.services.findings import raise_findings
    from inventory.services.reconciliation import Discrepancy

    statements = Attestation.objects.filter(run_id=run.pk).select_related("facility", "operator").order_by("pk")
    for att in statements.iterator():
        d = Discrepancy(FindingKind.RUN_OBJECTED, "", None, FindingSource.ATTESTATION, str(att.pk))
        evidence = {
            "statement": att.pk,
            "statement_sha256": att.statement_sha256,
            "log_index": att.log_index,
            "run": run.code,
            "objected_at_log_index": run.decision_log_index,
        }
        raise_findings([d], facility=att.facility, organisation=att.operator, evidence=evidence)
