"""Declared training runs: the operator's "my runs", the treaty body's review queue, a run's page (its
declaration, review state and clock, attested compute against its plan, the facilities and chips that
worked for it) and the decisions (approve, object, withdraw), through the API's services."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from attestations.bases import Basis, record_field
from compliance import run_review
from console import svg
from console.access import can_write, console_view, forbidden, not_found, usage_for
from console.forms import OptionalReasonForm
from console.tables import cursor_param, keyset_iter, keyset_page, wants_csv
from console.views.run_tables import CHIPS, DAYS, FACILITIES, QUEUE, RUNS
from core.errors import DomainError
from inventory.models import Facility
from registry.choices import OrgKind
from runs import services as runs
from runs import totals
from runs.choices import RunState
from runs.models import Run

ACTIONS = {"approve": "Approve", "object": "Object", "withdraw": "Withdraw"}
DONE = {"approve": "approved", "object": "objected to", "withdraw": "withdrawn"}


def _runs(user):
    return Run.objects.restrict(user).select_related("operator")


def _with_attested(rows):
    """Each run with its attested totals (one query for the page) and its share of the plan: on the draft
    agreement's count ("FP16-equivalent or actual operations, whichever is higher": attestations.bases), the count
    the over-plan rules of the presets judge by, and FP16-equivalent."""
    attested = totals.attested([r.pk for r in rows])
    for run in rows:
        run.attested = attested.get(run.pk, {})
        flop = run.attested.get("flop_fp16") or 0.0
        higher = run.attested.get(record_field(Basis.HIGHER)) or 0.0
        run.attested_flop = flop
        run.plan_ratio = higher / run.planned_flop if run.planned_flop else None
        run.plan_ratio_fp16 = flop / run.planned_flop if run.planned_flop else None
    return rows


def _days_left(run, now):
    if run.state != RunState.UNDER_REVIEW or run.review_due_at is None or run.withdrawn_at is not None:
        return None
    return max(0, (run.review_due_at - now).days)


@console_view
def run_list(request):
    """The runs in the user's view: an operator's own ("my runs"), an inspectorate's territory's, all."""
    qs = _runs(request.user)
    state = request.GET.get("state", "")
    if state in RunState.values:
        qs = qs.filter(state=state)
    if wants_csv(request):
        return RUNS.csv(_with_attested(list(keyset_iter(qs))))
    rows, next_cursor = keyset_page(qs, cursor_param(request, "before"), size=50, descending=True)
    org = request.user.organisation
    context = {
        "runs": _with_attested(rows),
        "table": RUNS,
        "next_cursor": next_cursor,
        "state": state,
        "states": RunState.choices,
        "mine": org is not None and org.kind == OrgKind.OPERATOR,
    }
    return render(request, "console/run_list.html", context)


def _decides(user):
    return can_write(user) and run_review.decides_runs(user)


@console_view
def run_queue(request):
    """Runs awaiting the treaty body's review, soonest due first, with their decision forms."""
    now = timezone.now()
    rows = list(_runs(request.user).awaiting_review().order_by("review_due_at", "id")[:500])
    for run in rows:
        run.days_left = _days_left(run, now)
        run.overdue = run.review_due_at is not None and run.review_due_at <= now
    if wants_csv(request):
        return QUEUE.csv(rows)
    context = {"runs": rows, "table": QUEUE, "decides": _decides(request.user)}
    return render(request, "console/run_queue.html", context)


def _run(request, code):
    return _runs(request.user).select_related("declared_by", "decided_by", "withdrawn_by").filter(code=code).first()


def _page(request, run, form=None, failed=None, status=200):
    now = timezone.now()
    table = request.GET.get("table", "")
    days = totals.by_day(run)
    cumulative, series = 0.0, []
    for day, row in days:
        cumulative += row["flop_fp16"] or 0.0
        series.append({"day": day, **row, "cumulative": cumulative, "share": cumulative / run.planned_flop})
    # Which chips worked where, facility by facility, only where the reader sees the statements (a run
    # declared in two countries is seen by both inspectorates; each reads its own territory's chips). The
    # run's own totals (the chart, the plan) are the whole run's.
    chips = usage_for(request.user).filter(run=run).values_list("chip_ref", "facility__code").order_by().distinct()
    if wants_csv(request):
        if table == "days":
            return DAYS.csv(series, f"run-{run.code}-days.csv")
        if table == "facilities":
            return FACILITIES.csv(_facilities(run, request.user), f"run-{run.code}-facilities.csv")
        if table == "chips":
            return CHIPS.csv(chips.order_by("chip_ref"), f"run-{run.code}-chips.csv")
    _with_attested([run])
    operator = request.user.organisation_id == run.operator_id
    actions = []
    open_review = run.state == RunState.UNDER_REVIEW and run.withdrawn_at is None and now < run.review_due_at
    if open_review and _decides(request.user):
        actions += [("approve", ACTIONS["approve"]), ("object", ACTIONS["object"])]
    if operator and can_write(request.user) and run.withdrawn_at is None and now < run.planned_start:
        actions.append(("withdraw", ACTIONS["withdraw"]))
    context = {
        "run": run,
        "days_left": _days_left(run, now),
        "facilities": [f.code for f in run.facilities.all()],
        "clusters": [f"{c.facility.code}/{c.code}" for c in run.clusters.select_related("facility")],
        "series": series,
        "days_table": DAYS,
        "facilities_used": _facilities(run, request.user),
        "facilities_table": FACILITIES,
        "chips": list(chips.order_by("chip_ref")[:200]),
        "chips_table": CHIPS,
        "chart": svg.column_chart(
            [(d["day"].strftime("%m-%d"), d["cumulative"]) for d in series],
            unit="FLOP (FP16-eq.)",
            empty="No usage attributed to this run yet.",
            reference=run.planned_flop,
            label="planned",
        ),
        "plan_bar": svg.ratio_bar(
            run.plan_ratio or 0, title=f"{(run.plan_ratio or 0):.1%} of the planned compute (the agreement's count)"
        ),
        "actions": actions,
        "form": form or OptionalReasonForm(),
        "failed_action": failed,
    }
    return render(request, "console/run.html", context, status=status)


def _facilities(run, user):
    """The per-facility totals of the facilities in the user's view."""
    within = Facility.objects.restrict(user)
    return [{"facility": code, **row} for code, row in totals.facilities(run, within)]


@console_view
def run_detail(request, code):
    run = _run(request, code)
    if run is None:
        return not_found(request, "No such run in your view.")
    return _page(request, run)


@console_view
@require_POST
def run_decision(request, code, action):
    if action not in ACTIONS:
        return not_found(request)
    run = _run(request, code)
    if run is None:
        return not_found(request, "No such run in your view.")
    if action in ("approve", "object") and not run_review.decides_runs(request.user):
        return forbidden(request, "Only the treaty body decides on declared runs.")
    if action == "withdraw" and request.user.organisation_id != run.operator_id:
        return forbidden(request, "Only the run's operator withdraws it.")
    form = OptionalReasonForm(request.POST)
    if form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if action == "withdraw":
                runs.withdraw(request.user, run, reason)
            else:
                run_review.decide(request.user, run, action == "approve", reason)
        except DomainError as exc:
            form.add_error(None, str(exc.detail))
        else:
            messages.success(request, f"Run {run.code}: {DONE[action]}.")
            if request.POST.get("next") == "queue":
                return redirect("console:run-queue")
            return redirect("console:run", code=run.code)
    return _page(request, run, form=form, failed=action, status=400)
