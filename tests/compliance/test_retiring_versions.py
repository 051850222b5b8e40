"""Retiring a rule is retiring its current version: an old version's "retired" event would tell every party
that the rule ended while its successor is in force."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import DestinationRule, ThresholdRule
from transparency.models import LogEventData

pytestmark = pytest.mark.django_db

THRESHOLD = {
    "key": "watch-v",
    "name": "Watch",
    "metric": "h100e",
    "scope": "facility",
    "comparison": "gt",
    "value": 100,
    "severity": "low",
}


def _versions(client, path, body, second):
    first = client.post(path, body)
    assert first.status_code == 201, first.content
    again = client.post(path, {**body, **second})
    assert again.status_code == 201, again.content
    return first.json(), again.json()


@pytest.mark.parametrize(
    "path, body, second, model, event",
    [
        ("/api/v1/thresholds/", THRESHOLD, {"value": 200}, ThresholdRule, "threshold.retired"),
        (
            "/api/v1/destination-rules/",
            {"key": "embargo-v", "name": "No accelerators to KP", "destinations": ["KP"]},
            {"destinations": ["KP", "IR"]},
            DestinationRule,
            "destination_rule.retired",
        ),
    ],
)
def test_a_superseded_version_is_not_retired_the_current_one_is(api, parties, path, body, second, model, event):
    treaty = api(parties.users["treaty"])
    body = {**body, "effective_from": (timezone.now() - timedelta(days=1)).isoformat()}
    old, new = _versions(treaty, path, body, second)
    refused = treaty.delete(f"{path}{old['id']}/")
    assert (refused.status_code, refused.json()["code"]) == (409, "superseded")
    assert str(new["version"]) in refused.json()["detail"]
    assert not LogEventData.objects.filter(event=event).exists()
    assert model.objects.get(pk=old["id"]).effective_to is None
    assert model.objects.in_force(timezone.now()).filter(key=body["key"]).get().pk == new["id"]

    assert treaty.delete(f"{path}{new['id']}/").status_code == 204
    assert LogEventData.objects.filter(event=event).count() == 1
    assert not model.objects.in_force(timezone.now()).filter(key=body["key"]).exists()
    assert treaty.delete(f"{path}{new['id']}/").json()["code"] == "already_retired"


def _governing_and_scheduled(treaty, now):
    """Version 1 of watch-v in force since yesterday, version 2 declared to take effect tomorrow."""
    return _versions(
        treaty,
        "/api/v1/thresholds/",
        {**THRESHOLD, "effective_from": (now - timedelta(days=1)).isoformat()},
        {"value": 200, "effective_from": (now + timedelta(days=1)).isoformat()},
    )


def test_a_version_superseded_by_a_scheduled_one_governs_until_then_and_is_retired_through_it(api, parties):
    """Declared to take effect tomorrow, version 2 supersedes version 1 at once, which governs until then.
    Retiring version 1 is `superseded`, naming version 2: it ended the rule now while version 2 still took effect
    tomorrow, a window with no rule and a `threshold.retired` event telling every party the rule had ended when
    it was to come back (a client written from the README met it). Retiring version 2 ends the rule."""
    treaty, now = api(parties.users["treaty"]), timezone.now()
    old, new = _governing_and_scheduled(treaty, now)
    assert ThresholdRule.objects.in_force(now).get(key="watch-v").pk == old["id"]
    refused = treaty.delete(f"/api/v1/thresholds/{old['id']}/")
    assert (refused.status_code, refused.json()["code"]) == (409, "superseded"), refused.content
    assert f"version {new['version']}" in refused.json()["detail"]
    assert ThresholdRule.objects.in_force(timezone.now()).get(key="watch-v").pk == old["id"]
    assert ThresholdRule.objects.in_force(now + timedelta(days=2)).get(key="watch-v").pk == new["id"]
    assert not LogEventData.objects.filter(event="threshold.retired").exists()
    assert treaty.delete(f"/api/v1/thresholds/{new['id']}/").status_code == 204
    assert not ThresholdRule.objects.in_force(timezone.now()).filter(key="watch-v").exists()
    assert not ThresholdRule.objects.in_force(now + timedelta(days=2)).filter(key="watch-v").exists()
    assert LogEventData.objects.filter(event="threshold.retired").count() == 1


def test_retiring_a_scheduled_version_ends_the_rule_and_its_predecessor_answers_already_retired(api, parties):
    """Version 2, scheduled for tomorrow, retired today: the rule ends now (version 1 governed until its successor
    took effect or was retired). Retiring version 1 afterwards is `already_retired`; it answered `superseded`,
    "retire the rule's current version (2)", naming a version already retired, and a client following it looped."""
    treaty, now = api(parties.users["treaty"]), timezone.now()
    old, new = _governing_and_scheduled(treaty, now)
    assert treaty.delete(f"/api/v1/thresholds/{new['id']}/").status_code == 204
    assert not ThresholdRule.objects.in_force(timezone.now()).filter(key="watch-v").exists()
    assert not ThresholdRule.objects.in_force(now + timedelta(days=2)).filter(key="watch-v").exists()
    again = treaty.delete(f"/api/v1/thresholds/{old['id']}/")
    assert (again.status_code, again.json()["code"]) == (409, "already_retired"), again.content
    assert treaty.delete(f"/api/v1/thresholds/{new['id']}/").json()["code"] == "already_retired"
    assert LogEventData.objects.filter(event="threshold.retired").count() == 1
