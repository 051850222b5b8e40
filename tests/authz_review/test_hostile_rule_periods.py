"""Hostile review of 1c413ce (a rule POSTed with no effective_from): the serializers judge `effective_to` against
the start the request gives, or now, while compliance.versioning.declare gives a next version of a known key the
current version's start where that is still to come (a PATCH naming no start: now). A version ending before it
begins was stored and logged as declared: every party read from the log a rule that "runs" from its start to an
earlier end, and in_force_during counted it in force over any window spanning both (the evaluation of compute
windows, the destination rules a shipment is judged by)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.export_models import DestinationRule
from compliance.models import ThresholdRule
from transparency.models import LogEventData

pytestmark = pytest.mark.django_db

THRESHOLD = {
    "key": "sched",
    "name": "Scheduled",
    "metric": "h100e",
    "scope": "facility",
    "comparison": "gt",
    "value": 100,
    "severity": "low",
}
DESTINATION = {"key": "sched", "name": "Scheduled embargo", "destinations": ["KP"]}


@pytest.mark.parametrize(
    "path, body, model",
    [("/api/v1/thresholds/", THRESHOLD, ThresholdRule), ("/api/v1/destination-rules/", DESTINATION, DestinationRule)],
)
def test_a_known_keys_next_version_cannot_end_before_its_carried_start(api, parties, path, body, model):
    treaty = api(parties.users["treaty"])
    start = timezone.now() + timedelta(days=10)
    first = treaty.post(path, {**body, "effective_from": start.isoformat()})
    assert first.status_code == 201, first.content
    events = LogEventData.objects.count()
    # No start: the next version starts where the scheduled one does (in 10 days); its end, in 1 day, is before.
    end = timezone.now() + timedelta(days=1)
    answer = treaty.post(path, {**body, "effective_to": end.isoformat()})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid", answer.content
    assert "effective_to" in answer.json()["errors"]
    assert LogEventData.objects.count() == events
    assert list(model.objects.filter(key="sched").values_list("version", "superseded_at")) == [(1, None)]


def test_a_patch_naming_no_start_cannot_end_the_next_version_before_now(api, parties):
    """A PATCH that names no start makes a version starting now; an end between the current version's start and
    now passed the serializer (judged against the current start) and was stored as a version ending before it
    began."""
    treaty = api(parties.users["treaty"])
    first = treaty.post("/api/v1/thresholds/", {**THRESHOLD, "effective_from": (timezone.now() - timedelta(days=10))})
    assert first.status_code == 201, first.content
    end = timezone.now() - timedelta(days=1)
    answer = treaty.patch(f"/api/v1/thresholds/{first.json()['id']}/", {"effective_to": end.isoformat()})
    assert answer.status_code == 400 and answer.json()["code"] == "invalid", answer.content
    assert ThresholdRule.objects.get(key="sched", superseded_at__isnull=True).version == 1
