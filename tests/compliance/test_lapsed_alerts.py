"""Alerts of a rule version no longer in force are closed, logged, by the periodic evaluation (session 20).

A new version of a rule takes over its subjects (its own alert on each, with the same clock), and a retired rule
judges nothing: the old version's alert was evaluated no more, so it stood open (or acknowledged) for ever,
neither cleared nor escalated, in every inspector's list of open alerts beside the one that governs. The periodic
evaluation now resolves it, as the registry (no user), saying which version governs now or that the rule ended:
an `alert.resolved` event read by those who read the alert's events, and a webhook to its subscribers.
"""

import json
from datetime import timedelta

from django.utils import timezone

from compliance import services, tasks
from compliance.evaluation import evaluate_all, lapse_alerts
from compliance.models import Alert, ThresholdRule
from tests.compliance.test_clock_across_rule_versions import _over_the_line
from transparency.models import LogEventData


def _resolved_by_the_registry(alert):
    alert.refresh_from_db()
    transition = alert.transitions.order_by("id").last()
    return alert.state == "resolved" and transition.by_id is None and transition.to_state == "resolved", transition


def test_a_new_version_in_force_closes_the_old_versions_alert(api, parties):
    _, _, first = _over_the_line(parties, "LAP-1")
    services.transition(parties.users["insp_us"], first, "acknowledge", "looking into it")
    services.declare(parties.users["treaty"], "clocked", name="clocked (renamed)")
    tasks.evaluate_all()  # the periodic task: evaluation, then the lapse
    closed, transition = _resolved_by_the_registry(first)
    assert closed and transition.from_state == "acknowledged"
    assert transition.reason == "clocked v1 is no longer in force: version 2 governs now"
    second = Alert.objects.get(rule__key="clocked", rule__version=2)
    assert second.state == "open" and second.due_at == first.due_at  # the clock runs on under the new version
    event = LogEventData.objects.get(index=transition.log_index)
    data = json.loads(event.data_jcs)
    assert event.event == "alert.resolved" and data["by"] is None and data["reason"] == transition.reason
    assert "op-a" in event.parties and event.countries == ["US"]
    assert lapse_alerts() == []  # once
    # Through the API and the console, a transition by no one.
    detail = api(parties.users["insp_us"]).get(f"/api/v1/alerts/{first.pk}/").json()
    assert detail["state"] == "resolved" and detail["transitions"][-1]["by"] is None
    assert detail["transitions"][-1]["reason"] == transition.reason


def test_a_retired_rules_alert_is_closed_saying_the_rule_ended(parties):
    _, _, first = _over_the_line(parties, "LAP-2")
    services.retire(parties.users["treaty"], ThresholdRule.objects.get(key="clocked"))
    assert [a.pk for a in lapse_alerts()] == [first.pk]
    closed, transition = _resolved_by_the_registry(first)
    assert closed and transition.reason == "clocked v1 is no longer in force: the rule ended"


def test_a_version_governing_until_its_scheduled_successor_keeps_its_alert_until_then(parties):
    _, _, first = _over_the_line(parties, "LAP-3")
    starts = timezone.now() + timedelta(days=1)
    services.declare(parties.users["treaty"], "clocked", name="clocked (renamed)", effective_from=starts)
    evaluate_all()
    assert lapse_alerts() == []
    first.refresh_from_db()
    assert first.state == "open"
    assert [a.pk for a in lapse_alerts(starts + timedelta(minutes=1))] == [first.pk]


def test_an_alert_someone_closed_is_left_as_it_is(parties):
    _, _, first = _over_the_line(parties, "LAP-4")
    services.transition(parties.users["treaty"], first, "dismiss", "not a concern")
    services.retire(parties.users["treaty"], ThresholdRule.objects.get(key="clocked"))
    assert lapse_alerts() == []
    first.refresh_from_db()
    assert first.state == "dismissed" and first.transitions.order_by("id").last().by == parties.users["treaty"]
