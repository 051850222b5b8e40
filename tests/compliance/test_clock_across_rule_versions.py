"""An alert's clock is the rule's, not one version's: a new version of a rule with a clock (a corrected name, a new
figure, a preset loaded again) keeps the subject's due date from its first crossing, and an alert of a version no
longer in force (superseded, or the rule retired) is not escalated: nothing evaluates it any more, so it would never
be cleared, and the operator would be escalated for a line it is back under, or for a rule that no longer exists."""

from datetime import timedelta

from compliance import services
from compliance.evaluation import escalate_overdue, evaluate_all
from compliance.models import Alert, ThresholdRule
from registry.registration import register_chips
from tests.compliance.test_evaluation import chips, declare, facility, rule, settle
from tests.factories import witnessed_disposal


def _over_the_line(parties, code):
    op = parties.users["op_a_admin"]
    rule(parties.users["treaty"], key="clocked", value=3, clock_days=120)
    fac = facility(op, code)
    ids, rows = chips(code.replace("-", ""), 4)
    register_chips(rows, op)
    declare(op, fac, ids)
    settle()
    # Raised 100 days ago: 20 days are left on its clock.
    alert = Alert.objects.get(rule__key="clocked")
    Alert.objects.filter(pk=alert.pk).update(
        raised_at=alert.raised_at - timedelta(days=100), due_at=alert.due_at - timedelta(days=100)
    )
    alert.refresh_from_db()
    return op, ids, alert


def test_a_new_version_keeps_the_clock_and_its_old_alert_does_not_escalate_a_subject_back_under(parties):
    op, ids, first = _over_the_line(parties, "CLK-1")
    services.declare(parties.users["treaty"], "clocked", name="clocked (renamed)")
    evaluate_all()
    second = Alert.objects.get(rule__key="clocked", rule__version=2)
    assert second.due_at == first.due_at  # the clock runs from the first crossing: a new version buys no time
    # The operator gets back under the line in time.
    witnessed_disposal(op, parties.users["treaty"], ids[:2])
    settle()
    second.refresh_from_db()
    assert second.cleared_at is not None
    assert escalate_overdue(first.due_at + timedelta(days=1)) == []
    first.refresh_from_db()
    assert first.escalated_at is None and first.severity == "high"


def test_a_subject_still_over_the_line_escalates_once_under_the_version_in_force(parties):
    _, _, first = _over_the_line(parties, "CLK-2")
    services.declare(parties.users["treaty"], "clocked", name="clocked (renamed)")
    evaluate_all()
    [escalated] = escalate_overdue(first.due_at + timedelta(days=1))
    assert escalated.rule.version == 2


def test_an_alert_of_a_retired_rule_is_not_escalated(parties):
    _, _, first = _over_the_line(parties, "CLK-3")
    services.retire(parties.users["treaty"], ThresholdRule.objects.get(key="clocked"))
    assert escalate_overdue(first.due_at + timedelta(days=1)) == []
