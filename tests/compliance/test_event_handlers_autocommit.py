"""Compliance's outbox handlers, run as a Celery worker runs them: outside any transaction (autocommit).

In the tests the relay hands an event over eagerly, so its handler runs inside the relay's transaction, which
hides code that only works in one (as the daily partition task's savepoint was hidden: 06f108f). Here each
event is committed but held back from the relay (tests.handed_over), and the handler task's function is called
with what the relay would hand it, in autocommit; its effect is checked, and a second delivery of the same
events (the outbox delivers at least once) changes nothing.
"""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from compliance.delivery.tasks import notify_events
from compliance.models import Aggregate, Alert, AlertTransition, Delivery, Subscription
from compliance.tasks import evaluate_event, evaluate_events
from inventory.choices import FindingKind, FindingSource
from inventory.models import AnyFinding
from inventory.services.facilities import review_facility
from inventory.services.findings import new_finding, store_findings
from outbox import emit
from registry.registration import register_chips
from tests.compliance.test_evaluation import chips, declare, facility, rule
from tests.handed_over import held_back, refusing
from tests.inventory.test_challenges import world as challenge_world  # noqa: F401  (a fixture, by this name)
from tests.inventory.test_exports import DE_SITE, ago, approved, declare_rule, receive, ship
from tests.inventory.test_exports import world as export_world  # noqa: F401  (a fixture, by this name)
from transparency.models import LogEventData

pytestmark = pytest.mark.django_db(transaction=True)


def declared_facility(parties, code, prefix):
    """Operator A's facility `code` with three new chips `prefix`... declared in it: (its admin, it, the chips)."""
    op = parties.users["op_a_admin"]
    fac = facility(op, code)
    ids, rows = chips(prefix, 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    return op, fac, ids


def assert_redelivery_changes_nothing(events):
    before = _alerts()
    evaluate_events(events)
    assert _alerts() == before


def _alerts():
    """What a second delivery must leave as it is: every alert, its transitions and its log events."""
    return (
        sorted(Alert.objects.values_list("pk", "group", "subject_key", "state", "cleared_at", "reopened")),
        AlertTransition.objects.count(),
        LogEventData.objects.filter(event__startswith="alert.").count(),
    )


def test_a_placement_change_is_evaluated_outside_any_transaction(catalog, parties):
    op = parties.users["op_a_admin"]
    fac = facility(op, "AC-PLACE-1")
    rule(parties.users["treaty"], "ac-place", value=3)
    ids, rows = chips("ACP", 3)
    register_chips(rows, op)
    with held_back() as held:
        declare(op, fac, ids)
    events = held.for_(evaluate_events)
    assert [topic for _, topic, _ in events] == ["placements.changed"]
    assert not Alert.objects.filter(rule__key="ac-place").exists()
    assert connection.get_autocommit()
    evaluate_event(*events[0])  # the single-event task (messages queued before the relay sent batches)
    assert Aggregate.objects.get(scope="facility", subject_key=str(fac.pk)).chip_count == 3
    [alert] = Alert.objects.filter(rule__key="ac-place", subject_key=str(fac.pk))
    assert alert.state == "open" and alert.log_index is not None and alert.evidence.count() == 1
    assert_redelivery_changes_nothing(events)


def test_a_new_rule_is_evaluated_outside_any_transaction(catalog, parties):
    _, fac, _ = declared_facility(parties, "AC-RULE-1", "ACR")  # evaluated now (no rule yet)
    with held_back() as held:
        rule(parties.users["treaty"], "ac-rule", value=2)
    events = held.for_(evaluate_events)
    assert [topic for _, topic, _ in events] == ["rules.changed"]
    assert not Alert.objects.filter(rule__key="ac-rule").exists()
    assert connection.get_autocommit()
    evaluate_events(events)
    assert Alert.objects.filter(rule__key="ac-rule", subject_key=str(fac.pk), state="open").exists()
    assert_redelivery_changes_nothing(events)


def test_a_facility_review_moves_the_holdings_outside_accepted_facilities_outside_any_transaction(catalog, parties):
    # Evaluated now: three chips outside accepted facilities.
    op, fac, _ = declared_facility(parties, "AC-REVIEW-1", "ACV")
    held_key = f"{op.organisation_id}:US"
    holdings = Aggregate.objects.filter(scope="unaccepted_holdings", subject_key=held_key)
    assert holdings.get().chip_count == 3
    with held_back() as held:
        review_facility(parties.users["treaty"], fac, "accept")
    events = held.for_(evaluate_events)
    assert [topic for _, topic, _ in events] == ["facilities.reviewed"]
    assert holdings.get().chip_count == 3
    assert connection.get_autocommit()
    evaluate_events(events)
    assert holdings.get().chip_count == 0
    evaluate_events(events)
    assert holdings.get().chip_count == 0


def test_findings_raised_become_their_alert_outside_any_transaction(catalog, parties):
    op = parties.users["op_a_admin"]
    fac = facility(op, "AC-FIND-1")
    with held_back() as held:
        # As inventory raises them: stored, and announced in the same transaction.
        store_findings(
            [
                new_finding(
                    kind=FindingKind.UNACCOUNTED, chip_ref=f"nvidia:ACF00000{i}", facility=fac,
                    organisation=fac.operator, country="US", source=FindingSource.DECLARATION,
                    source_id="ac-find", detail="absent from the listing",
                )
                for i in range(2)
            ]
        )  # fmt: skip
        emit("findings.raised", source=str(FindingSource.DECLARATION), source_id="ac-find")
    events = held.for_(evaluate_events)
    assert [topic for _, topic, _ in events] == ["findings.raised"]
    group = f"unaccounted:{FindingSource.DECLARATION}:ac-find"
    assert not Alert.objects.filter(group=group).exists()
    assert connection.get_autocommit()
    evaluate_events(events)
    [alert] = Alert.objects.filter(group=group)
    assert (alert.value, alert.evidence.get().chip_count) == (2, 2)
    assert_redelivery_changes_nothing(events)


def test_a_sources_batches_announced_together_raise_its_alerts_once(catalog, parties, monkeypatch):
    """A monitor announces each batch it stores (inventory.services.findings.raise_monitored): the events of one
    source that reach a delivery together are one reading of its findings, not one per batch."""
    from compliance import finding_alerts

    calls = []
    raise_for = finding_alerts.raise_for
    monkeypatch.setattr(finding_alerts, "raise_for", lambda *a: calls.append(a) or raise_for(*a))
    batches = [[i, "findings.raised", {"source": "monitor", "source_id": "silence"}] for i in (1, 2, 3)]
    other = [4, "findings.raised", {"source": "declaration", "source_id": "elsewhere"}]
    evaluate_events([*batches, other])
    assert calls == [("monitor", "silence"), ("declaration", "elsewhere")]


def test_a_challenge_request_and_refusal_raise_their_alerts_outside_any_transaction(catalog, challenge_world):  # noqa: F811
    world = challenge_world
    with held_back() as held:
        requested = world.as_("treaty").post(
            "/api/v1/challenge-inspections/", {"reason": "a tip says so", "facility": "US-VA-001"}
        )
        assert requested.status_code == 201, requested.content
        pk = requested.json()["id"]
        refused = world.a.post(f"/api/v1/challenge-inspections/{pk}/access/", {"decision": "refused", "reason": "no"})
        assert refused.status_code == 200, refused.content
    events = held.for_(evaluate_events)
    assert [(topic, payload["step"]) for _, topic, payload in events] == [
        ("challenge.changed", "requested"),
        ("challenge.changed", "refused"),
    ]
    assert not Alert.objects.filter(kind="challenge").exists()
    assert connection.get_autocommit()
    evaluate_events(events)
    groups = set(Alert.objects.filter(kind="challenge").values_list("group", flat=True))
    assert groups == {f"challenge:{pk}:requested", f"challenge:{pk}:refused"}
    assert_redelivery_changes_nothing(events)


def test_a_receipt_across_a_border_a_rule_forbids_is_judged_outside_any_transaction(catalog, api, export_world):  # noqa: F811
    world = export_world
    licence = approved(api, world)
    shipped = ship(world, licence=licence["id"])
    assert shipped.status_code == 201, shipped.content
    declare_rule(api, world, effective_from=ago(hours=2))
    with held_back() as held:
        receive(world, shipped.json()["id"], DE_SITE)
    events = held.for_(evaluate_events)
    assert "exports.received" in [topic for _, topic, _ in events]
    found = AnyFinding.objects.filter(kind="export_forbidden")
    assert not found.exists()
    assert connection.get_autocommit()
    evaluate_events(events)
    assert sorted(found.values_list("country", flat=True)) == ["DE", "US"]
    alerts = Alert.objects.filter(group__startswith="export_forbidden:")
    assert sorted(alerts.values_list("country", "severity")) == [("DE", "critical"), ("US", "critical")]
    before = (_alerts(), found.count())
    evaluate_events(events)
    assert (_alerts(), found.count()) == before


def test_a_receipt_judged_without_its_alerts_stores_no_finding_and_its_retry_raises_both(catalog, api, export_world):  # noqa: F811
    world = export_world
    shipped = ship(world, licence=approved(api, world)["id"])
    assert shipped.status_code == 201, shipped.content
    declare_rule(api, world, effective_from=ago(hours=2))
    with held_back() as held:
        receive(world, shipped.json()["id"], DE_SITE)
    events = held.for_(evaluate_events)
    found = AnyFinding.objects.filter(kind="export_forbidden")
    # The alerts refused: the findings stored alone would have waited two days for the sweep.
    with refusing(Alert), pytest.raises(DatabaseError):
        evaluate_events(events)
    assert not found.exists()
    assert not Alert.objects.filter(group__startswith="export_forbidden:").exists()
    evaluate_events(events)  # the task's retry
    assert sorted(found.values_list("country", flat=True)) == ["DE", "US"]
    assert Alert.objects.filter(group__startswith="export_forbidden:").count() == 2


def test_an_alerts_subscribers_are_notified_outside_any_transaction(catalog, parties, mailoutbox):
    op = parties.users["op_a_admin"]
    sub = Subscription.objects.create(organisation=parties.treaty, min_severity="low", email="duty@treaty.example")
    fac = facility(op, "AC-NOTE-1")
    ids, rows = chips("ACN", 3)
    register_chips(rows, op)
    declare(op, fac, ids)
    with held_back() as held:
        rule(parties.users["treaty"], "ac-note", value=2)
    evaluate_events(held.for_(evaluate_events))  # raises the alert; its alerts.notify event is relayed at once
    [alert] = Alert.objects.filter(rule__key="ac-note")
    [delivery] = Delivery.objects.filter(alert=alert, subscription=sub)
    assert delivery.state == "delivered" and len(mailoutbox) == 1
    # The relay's hand-over lost in transit: the same event handed over again, to the task itself.
    Delivery.objects.filter(pk=delivery.pk).delete()
    mailoutbox.clear()
    assert connection.get_autocommit()
    notify_events([[0, "alerts.notify", {"alerts": [[alert.pk, 0]], "event": "alert.raised"}]])
    [delivery] = Delivery.objects.filter(alert=alert, subscription=sub)
    assert delivery.state == "delivered" and [m.to for m in mailoutbox] == [["duty@treaty.example"]]
    notify_events([[0, "alerts.notify", {"alerts": [[alert.pk, 0]], "event": "alert.raised"}]])
    assert Delivery.objects.filter(alert=alert).count() == 1 and len(mailoutbox) == 1


def test_usage_alone_is_evaluated_at_its_stored_totals_outside_any_transaction(catalog, api, parties):
    from tests.attestations.conftest import World, now

    world = World(api, parties)
    rule(
        parties.users["treaty"], "ac-usage", metric="compute_window", window_days=7, comparison="gt", value=1e18,
        basis="peak", effective_from=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    end = now() - timedelta(minutes=5)
    rows = [
        {"chip": f"nvidia:A00000{i}", "active_s": 3600, "utilization": 1.0, "energy_j": 400.0 * 3600} for i in (0, 1)
    ]
    with held_back() as held:
        response, _ = world.submit(world.op_a, world.usage(rows, end - timedelta(hours=1), end))
        assert response.status_code == 201, response.content
    events = held.for_(evaluate_events)
    assert {topic for _, topic, _ in events} == {"usage.recorded"}
    alerts = Alert.objects.filter(rule__key="ac-usage", scope="facility")
    assert not alerts.exists()
    assert connection.get_autocommit()
    evaluate_events(events)
    [alert] = alerts
    assert alert.state == "open" and alert.value > 1e18
    assert_redelivery_changes_nothing(events)
