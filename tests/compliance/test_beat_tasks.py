"""Compliance's periodic tasks, run as a Celery worker runs them: outside any transaction (autocommit).

The tests of what they call run inside the test's transaction (the `db` fixture), which hides code that only
works in one: the daily partition task once asked for a savepoint there and never did its work (06f108f). Here
each beat task is called directly, in autocommit, with work to do, and its effect checked.
"""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from compliance import services, tasks
from compliance.delivery import tasks as delivery_tasks
from compliance.dispute_models import ClarificationRequest
from compliance.models import Alert, Delivery, DeliveryState, Subscription, ThresholdRule
from inventory.choices import FindingKind, FindingSource
from inventory.models import AnyFinding, ChallengeInspection, Facility
from inventory.services.findings import new_finding, store_findings
from outbox.models import OutboxEvent
from outbox.tasks import relay
from registry.models import Chip
from registry.registration import register_chips
from tests.compliance.test_clock_across_rule_versions import _over_the_line
from tests.compliance.test_covered_clusters import declare as declare_at
from tests.compliance.test_covered_clusters import h100s, site
from tests.compliance.test_evaluation import SINCE, chips, declare, facility, rule
from tests.handed_over import refusing

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_delivery_sweep_sends_a_delivery_its_task_never_sent(catalog, parties, mailoutbox):
    op = parties.users["op_a_admin"]
    Subscription.objects.create(organisation=parties.treaty, min_severity="low", email="duty@treaty.example")
    fac = facility(op, "SWEEP-1")
    ids, rows = chips("SWP", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    rule(parties.users["treaty"], "sweep-due", value=2)
    [delivery] = Delivery.objects.all()
    # Its sending task lost (a broker that restarted empty): the row is pending, its time come.
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING,
        attempts=0,
        first_attempt_at=None,
        delivered_at=None,
        next_attempt_at=None,
        created_at=timezone.now() - timedelta(hours=1),  # past the sweep's grace
    )
    mailoutbox.clear()
    assert connection.get_autocommit()
    delivery_tasks.deliver_due()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)
    assert [m.to for m in mailoutbox] == [["duty@treaty.example"]]


def test_the_full_evaluation_evaluates_lapses_escalates_and_sweeps_outside_any_transaction(catalog, parties):
    treaty = parties.users["treaty"]
    _, _, first = _over_the_line(parties, "BEAT-1")  # `clocked` v1's alert, 20 days left on its clock
    services.declare(treaty, "clocked", name="clocked (renamed)")  # v2 in force, its own alert (relayed)
    second = Alert.objects.get(rule__key="clocked", rule__version=2)
    Alert.objects.filter(pk=second.pk).update(due_at=timezone.now() - timedelta(days=1))  # its clock ran out
    # A rule that appears with no evaluation of its own: only the full evaluation raises its alert.
    ThresholdRule.objects.create(
        key="beat-fresh", name="beat fresh", metric="chip_count", scope="facility", comparison="ge", value=2,
        effective_from=SINCE,
    )  # fmt: skip
    # A finding whose alert was lost in transit (stored, its outbox event never emitted).
    fac = Facility.objects.get(code="BEAT-1")
    store_findings(
        [
            new_finding(
                kind=FindingKind.UNACCOUNTED, chip_ref="nvidia:LOST000001", facility=fac, organisation=fac.operator,
                country="US", source=FindingSource.DECLARATION, source_id="beat-lost", detail="lost in transit",
            )
        ]
    )  # fmt: skip
    assert connection.get_autocommit()
    tasks.evaluate_all()
    assert Alert.objects.filter(rule__key="beat-fresh", subject_key=str(fac.pk), state="open").exists()
    first.refresh_from_db()
    assert first.state == "resolved"  # lapsed: v1 is no longer in force
    second.refresh_from_db()
    assert second.escalated_at is not None and second.severity == "critical"
    assert Alert.objects.filter(group=f"unaccounted:{FindingSource.DECLARATION}:beat-lost").exists()


def _unverified_covered_cluster(api, parties):
    """17 H100s of operator A, a covered cluster, registered 30 days ago and never proved in hardware."""
    a = api(parties.users["op_a_admin"])
    site(a, "HALL-B")
    refs = h100s(parties.users["op_a_admin"], "HWB", 17)
    declare_at(a, "HALL-B", refs)
    Chip.objects.filter(serial__startswith="HWB").update(created_at=timezone.now() - timedelta(days=30))


def test_the_hardware_monitor_raises_its_findings_outside_any_transaction(catalog, api, parties):
    _unverified_covered_cluster(api, parties)
    assert connection.get_autocommit()
    assert tasks.find_hardware_unverified() == 17
    assert Alert.objects.filter(group__startswith="hardware_unverified:").count() == 1


def test_a_hardware_run_that_fails_before_announcing_its_findings_leaves_none(catalog, api, parties):
    _unverified_covered_cluster(api, parties)
    found = AnyFinding.objects.filter(kind="hardware_unverified")
    with refusing(), pytest.raises(DatabaseError):
        tasks.find_hardware_unverified()
    assert not found.exists()
    assert tasks.find_hardware_unverified() == 17
    assert found.count() == 17
    assert Alert.objects.filter(group__startswith="hardware_unverified:").count() == 1


def test_an_overdue_clarification_escalates_outside_any_transaction(catalog, api, parties):
    _, _, alert = _over_the_line(parties, "BEAT-2")
    asked = api(parties.users["insp_us"]).post(f"/api/v1/alerts/{alert.pk}/clarifications/", {"question": "Where?"})
    assert asked.status_code == 201, asked.content
    ClarificationRequest.objects.filter(pk=asked.json()["id"]).update(deadline=timezone.now() - timedelta(minutes=1))
    assert connection.get_autocommit()
    assert tasks.escalate_overdue() == 1
    row = ClarificationRequest.objects.get(pk=asked.json()["id"])
    assert row.state == "overdue" and row.escalation.kind == "clarification"
    assert tasks.escalate_overdue() == 0  # once


def test_an_overdue_challenge_step_escalates_outside_any_transaction(catalog, api, parties):
    a = api(parties.users["op_a_admin"])
    site(a, "US-CHL-1")
    requested = api(parties.users["treaty"]).post(
        "/api/v1/challenge-inspections/", {"reason": "a tip says so", "case": "CASE-1", "facility": "US-CHL-1"}
    )
    assert requested.status_code == 201, requested.content
    pk = requested.json()["id"]
    ChallengeInspection.objects.filter(pk=pk).update(acknowledge_by=timezone.now() - timedelta(minutes=1))
    assert connection.get_autocommit()
    assert tasks.escalate_challenges() == 1
    row = ChallengeInspection.objects.get(pk=pk)
    assert row.acknowledge_overdue_at is not None
    assert row.acknowledge_alert_id == Alert.objects.get(group=f"challenge:{pk}:acknowledge").pk
    assert tasks.escalate_challenges() == 0  # once


def test_the_relay_hands_over_an_event_left_pending_outside_any_transaction(catalog, parties):
    """The beat's relay drains what no after-commit drain handed over (the broker was down then)."""
    op = parties.users["op_a_admin"]
    fac = facility(op, "RELAY-1")
    store_findings(
        [
            new_finding(
                kind=FindingKind.UNACCOUNTED, chip_ref="nvidia:RLY000001", facility=fac, organisation=fac.operator,
                country="US", source=FindingSource.DECLARATION, source_id="relay-left", detail="left pending",
            )
        ]
    )  # fmt: skip
    # Written as emit() writes it, without the drain its commit would ask for.
    event = OutboxEvent.objects.create(
        topic="findings.raised", payload={"source": FindingSource.DECLARATION, "source_id": "relay-left"}
    )
    assert connection.get_autocommit()
    assert relay() >= 1
    event.refresh_from_db()
    assert event.dispatched_at is not None
    assert Alert.objects.filter(group=f"unaccounted:{FindingSource.DECLARATION}:relay-left").exists()
