"""The one writer of run rows: declarations, decisions, approval by silence, withdrawals, each a log event
in the same transaction (runs.models says which states exist and who moves them).

Classifying a declaration against the treaty body's rules is compliance's business (compliance.run_review,
a higher layer): it hands `declare` a Verdict. Nothing here reads a rule.
"""

import hashlib
import math
import secrets
from datetime import UTC, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, Forbidden, Invalid
from inventory.choices import FindingKind
from registry.choices import OrgKind
from runs import storage
from runs.choices import RunState
from runs.models import Run, RunUsageDay
from transparency.events import append_event, append_events

CODE_PREFIX = "run-"


class Verdict(NamedTuple):
    """What the rules in force make of a declaration: its state, the rule that put it there (by value) and,
    for a run under review, the review period in days."""

    state: str
    rule_key: str = ""
    rule_version: int | None = None
    rule_value: float | None = None
    review_days: int | None = None


def new_code():
    """A public id nobody can guess or enumerate (80 random bits), as a registry code (ATTESTATION.md)."""
    return CODE_PREFIX + secrets.token_hex(10)


def require_declarer(user):
    org = getattr(user, "organisation", None)
    if org is None or org.kind != OrgKind.OPERATOR:
        raise Forbidden("Only operators declare training runs.")


def check_plan(user, values, now=None):
    """Refuse a declaration that cannot stand, before anything is classified or written.

    A run is declared before it starts: a planned start in the past would let an operator explain compute
    already done (and alerted as unexplained) after the fact. Its sites are the speaker's own (the API's
    fields resolve them through restrict(); checked again here for every other caller)."""
    require_declarer(user)
    now = now or timezone.now()
    flop = values["planned_flop"]
    if not (isinstance(flop, int | float) and math.isfinite(flop) and flop > 0):
        raise Invalid("planned_flop: a positive number of operations.", code="invalid_planned_flop")
    if values["planned_start"] < now:
        raise Invalid("planned_start: a run is declared before it starts.", code="start_in_past")
    if values["planned_end"] <= values["planned_start"]:
        raise Invalid("planned_end: must be after planned_start.", code="end_before_start")
    facilities, clusters = values.get("facilities") or [], values.get("clusters") or []
    if not facilities and not clusters:
        raise Invalid("Name the facilities or clusters the run will use.", code="no_sites")
    org = user.organisation
    if any(f.operator_id != org.pk for f in facilities) or any(c.facility.operator_id != org.pk for c in clusters):
        raise Invalid("You run no such facility or cluster.", code="unknown_site")


def lock_declarations(operator):
    """Hold the operator's next declarations back until this transaction ends (runs.storage): what it declares
    is judged with its earlier runs of the same model, which a declaration sent alongside must be one of."""
    storage.lock_declarations(operator.pk)


def _countries(facilities, clusters):
    return sorted({f.country for f in facilities} | {c.facility.country for c in clusters})


def run_data(run, facilities=None, clusters=None):
    """The declaration as the log records it: the description by its SHA-256 (the row keeps the text)."""
    facilities = facilities if facilities is not None else list(run.facilities.all())
    clusters = clusters if clusters is not None else list(run.clusters.select_related("facility"))
    return {
        "run": run.code,
        "operator": run.operator.code,
        "model_name": run.model_name,
        "kind": run.kind,
        "planned_flop": run.planned_flop,
        "precision": run.precision,
        "facilities": sorted(f.code for f in facilities),
        "clusters": sorted(f"{c.facility.code}/{c.code}" for c in clusters),
        "countries": run.countries,
        "planned_start": run.planned_start.isoformat(),
        "planned_end": run.planned_end.isoformat(),
        "description_sha256": hashlib.sha256(run.description.encode()).hexdigest(),
        "state": run.state,
        "review_due_at": run.review_due_at.isoformat() if run.review_due_at else None,
        "rule": f"{run.rule_key} v{run.rule_version}" if run.rule_key else None,
        "by": run.declared_by.username,
    }


def _readers(run):
    """(parties, countries) who read a run's events besides treaty bodies."""
    return [run.operator.code], list(run.countries)


@transaction.atomic
def declare(user, values, verdict, now=None):
    """Record a declaration in the state its verdict says, with its log event. Never refused for what it
    plans: a run above a prohibition threshold is recorded as prohibited (the declaration is evidence)."""
    now = now or timezone.now()
    check_plan(user, values, now)
    facilities, clusters = list(values.get("facilities") or []), list(values.get("clusters") or [])
    run = Run(
        code=new_code(),
        operator=user.organisation,
        model_name=values["model_name"],
        kind=values["kind"],
        planned_flop=float(values["planned_flop"]),
        precision=values["precision"],
        countries=_countries(facilities, clusters),
        planned_start=values["planned_start"],
        planned_end=values["planned_end"],
        description=values["description"],
        state=verdict.state,
        review_due_at=(now + timedelta(days=verdict.review_days) if verdict.state == RunState.UNDER_REVIEW else None),
        rule_key=verdict.rule_key,
        rule_version=verdict.rule_version,
        rule_value=verdict.rule_value,
        declared_at=now,
        declared_by=user,
    )
    run.full_clean(exclude=["declared_by", "operator"])
    run.save()
    run.facilities.set(facilities)
    run.clusters.set(clusters)
    parties, countries = _readers(run)
    run.log_index = append_event(
        "run.declared", run.code, run_data(run, facilities, clusters), parties=parties, countries=countries
    )
    run.save(update_fields=["log_index"])
    return run


def _locked(run):
    return Run.objects.select_for_update(of=("self",)).select_related("operator").get(pk=run.pk)


def _transition_data(run, previous, user, reason):
    return {
        "run": run.code,
        "operator": run.operator.code,
        "from": previous,
        "to": run.state,
        "by": user.username if user else None,
        "organisation": user.organisation.code if user and user.organisation_id else None,
        "reason": reason,
        "review_due_at": run.review_due_at.isoformat() if run.review_due_at else None,
        "countries": run.countries,
    }


@transaction.atomic
def decide(user, run, approve, reason="", now=None):
    """A treaty body approves or objects to a run under review, within its review period (after it,
    silence has approved the run, whether or not the sweep has recorded it yet). An objection says why."""
    now = now or timezone.now()
    run = _locked(run)
    reason = (reason or "").strip()
    if run.state != RunState.UNDER_REVIEW:
        raise Conflict(f"Run {run.code} is {run.state}, not under review.", code="not_under_review")
    if run.withdrawn_at is not None:
        raise Conflict(f"Run {run.code} was withdrawn.", code="run_withdrawn")
    if run.review_due_at is not None and now >= run.review_due_at:
        raise Conflict(
            f"The review period of {run.code} ended at {run.review_due_at.isoformat()}: silence approved it.",
            code="review_period_over",
        )
    if not approve and not reason:
        raise Invalid("Say why the run is objected to.", code="reason_required")
    previous = run.state
    run.state = RunState.APPROVED if approve else RunState.OBJECTED
    run.decided_at, run.decided_by, run.decision_reason = now, user, reason
    parties, countries = _readers(run)
    run.decision_log_index = append_event(
        f"run.{run.state}",
        run.code,
        _transition_data(run, previous, user, reason),
        parties=parties,
        countries=countries,
    )
    run.save(update_fields=["state", "decided_at", "decided_by", "decision_reason", "decision_log_index"])
    return run


def approve_by_silence(now=None, limit=1000):
    """Record as approved by silence every run whose review period ended with no decision: one transaction
    and one log append for up to `limit` runs (the rows skipped while another sweep holds them). Returns
    the runs approved."""
    now = now or timezone.now()
    with transaction.atomic():
        runs = list(
            Run.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("operator")
            .filter(state=RunState.UNDER_REVIEW, withdrawn_at__isnull=True, review_due_at__lte=now)
            .order_by("review_due_at", "id")[:limit]
        )
        if not runs:
            return []
        reason = "no decision within the review period"
        for run in runs:
            run.state, run.decided_at = RunState.APPROVED_BY_SILENCE, now
            run.decision_reason = reason
        first = append_events(
            [
                (
                    "run.approved_by_silence",
                    run.code,
                    _transition_data(run, RunState.UNDER_REVIEW, None, reason),
                    *_readers(run),
                )
                for run in runs
            ]
        )
        for offset, run in enumerate(runs):
            run.decision_log_index = first + offset
        Run.objects.bulk_update(runs, ["state", "decided_at", "decision_reason", "decision_log_index"])
        return runs


@transaction.atomic
def withdraw(user, run, reason="", now=None):
    """The operator calls a run off before its planned start. The declaration stays, in its state."""
    now = now or timezone.now()
    run = _locked(run)
    if run.operator_id != getattr(user.organisation, "pk", None):
        raise Forbidden("Only the run's operator withdraws it.")
    if run.withdrawn_at is not None:
        raise Conflict(f"Run {run.code} was withdrawn already.", code="already_withdrawn")
    if now >= run.planned_start:
        raise Conflict(f"Run {run.code} has started (as planned); it cannot be withdrawn.", code="run_started")
    if RunUsageDay.objects.filter(run=run).exists():
        # Work attributed to it is explained by it: calling it off now would take it out of review and leave
        # that work explained. (Statements naming it hold a key-share lock on it to their commit: _locked
        # waited for them, so this sees their work.)
        raise Conflict(f"Run {run.code} has work attributed to it; it cannot be withdrawn.", code="run_has_usage")
    run.withdrawn_at, run.withdrawn_by, run.withdrawal_reason = now, user, (reason or "").strip()
    run.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawal_reason"])
    parties, countries = _readers(run)
    data = {**_transition_data(run, run.state, user, run.withdrawal_reason), "withdrawn": True}
    append_event("run.withdrawn", run.code, data, parties=parties, countries=countries)
    return run


# --- usage attributed to runs ----------------------------------------------------------------------


# Work for a run in one of these states is the run's, and a finding: the treaty body said it may not run.
FORBIDDEN_STATES = {RunState.OBJECTED: FindingKind.RUN_OBJECTED, RunState.PROHIBITED: FindingKind.RUN_PROHIBITED}


def attribution(code, speaker_id, period_start, facility_id, period_end=None):
    """(run pk, None) when a usage statement of `speaker_id` about facility `facility_id` may be attributed
    to the run `code`; else (None, the finding kind): a run never declared, another operator's (the speaker
    learns no more than that: not whose, nor anything else about it), a run its operator withdrew (work done
    for a run called off is not explained by it, whenever it is reported), work reported for a period that
    began before the run was declared (a declaration does not explain compute done before it), or work at a
    facility the run did not declare (its inspectorate would not see the run that explains it).

    Work for a period reaching outside the run's planned dates (beyond the clocks' allowed skew) is the run's
    too, with a `run_outside_plan` finding: the run was declared, reviewed and classified for those dates, and
    the over-plan rules judge its volume, not when it was done (`period_end`: the period's end, when known).

    A run the treaty body objected to, or one recorded prohibited, is (run pk, the finding kind): the work is
    the run's all the same (its attested compute is the evidence of what was done despite the treaty's
    answer), and each statement reporting it is a high finding, so no such work goes unseen; where the work
    cannot be its (the cases above), that finding replaces theirs (compliance.run_review flags the work
    reported before an objection).

    Called in the statement's transaction: the run stays key-share locked to its commit, so a withdrawal
    waits for it and then sees the work (withdraw refuses a run that has any)."""
    row = storage.run_for_attribution(code)
    if row is None:
        return None, FindingKind.RUN_UNKNOWN
    pk, operator_id, declared_at, withdrawn_at, state, planned_start, planned_end = row
    if operator_id != speaker_id:
        return None, FindingKind.RUN_NOT_OWN
    # What the treaty said of the run is the finding, whatever else keeps the work from being the run's.
    forbidden = FORBIDDEN_STATES.get(state)
    if withdrawn_at is not None:
        return None, forbidden or FindingKind.RUN_WITHDRAWN
    if period_start < declared_at:
        return None, forbidden or FindingKind.RUN_BEFORE_DECLARATION
    if not declared_at_facility(pk, facility_id):
        return None, forbidden or FindingKind.RUN_OTHER_SITE
    skew = timedelta(seconds=settings.CHIPREG_FRESHNESS_MAX_FUTURE_S)
    outside = period_start < planned_start - skew or (period_end is not None and period_end > planned_end + skew)
    return pk, forbidden or (FindingKind.RUN_OUTSIDE_PLAN if outside else None)


def declared_at_facility(run_id, facility_id):
    """Whether the run declared this facility, or a cluster in it."""
    return Run.objects.filter(Q(facilities=facility_id) | Q(clusters__facility=facility_id), pk=run_id).exists()


def record_usage(run_id, facility_id, period_start, totals):
    """Add a statement's attributed usage to its run's totals of that facility and UTC day (runs.storage),
    in the statement's transaction."""
    day = period_start.astimezone(UTC).date()
    storage.add_usage(run_id, facility_id, day, totals)
