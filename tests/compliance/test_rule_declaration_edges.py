"""A rule's new version says truthfully when it takes effect, a malformed change is a 400, and two first
declarations of one key at once make versions 1 and 2 (hostile review of thresholds)."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from compliance import services
from compliance.models import ThresholdRule
from tests.compliance.test_retiring_versions import THRESHOLD
from transparency.models import LogEventData

pytestmark = pytest.mark.django_db

TERMS = {k: v for k, v in THRESHOLD.items() if k != "key"}


def _declare(client, key, since):
    made = client.post("/api/v1/thresholds/", {**TERMS, "key": key, "effective_from": since.isoformat()})
    assert made.status_code == 201, made.content
    return made.json()


def _event_start(version_pk):
    rule = ThresholdRule.objects.get(pk=version_pk)
    event = LogEventData.objects.get(event="threshold.declared", index=rule.log_index)
    return json.loads(event.data_jcs)["effective_from"]


def test_a_change_without_a_start_takes_effect_now_not_since_the_old_terms(api, parties):
    """Carrying version 1's start (a month ago) over would tell every party, in the log, that the new value
    governed for that month."""
    treaty = api(parties.users["treaty"])
    month_ago = timezone.now() - timedelta(days=30)
    first = _declare(treaty, "watch-start", month_ago)
    before = timezone.now()
    changed = treaty.patch(f"/api/v1/thresholds/{first['id']}/", {"value": 200})
    assert changed.status_code == 200, changed.content
    second = ThresholdRule.objects.get(pk=changed.json()["id"])
    assert (second.version, second.value) == (2, 200)
    assert second.effective_from >= before
    assert _event_start(second.pk) == second.effective_from.isoformat()
    # Until now, version 1's terms governed; from now, version 2's.
    assert ThresholdRule.objects.in_force(before - timedelta(seconds=1)).get(key="watch-start").version == 1
    assert ThresholdRule.objects.in_force(timezone.now()).get(key="watch-start").version == 2


def test_a_correction_of_a_scheduled_rule_keeps_its_start(api, parties):
    treaty = api(parties.users["treaty"])
    next_week = timezone.now() + timedelta(days=7)
    first = _declare(treaty, "watch-later", next_week)
    changed = treaty.patch(f"/api/v1/thresholds/{first['id']}/", {"value": 300})
    assert changed.status_code == 200, changed.content
    assert ThresholdRule.objects.get(pk=changed.json()["id"]).effective_from == next_week


def test_an_explicit_start_is_the_declarers_word(api, parties):
    treaty = api(parties.users["treaty"])
    first = _declare(treaty, "watch-given", timezone.now() - timedelta(days=30))
    given = timezone.now() - timedelta(days=2)
    changed = treaty.patch(f"/api/v1/thresholds/{first['id']}/", {"value": 400, "effective_from": given.isoformat()})
    assert changed.status_code == 200, changed.content
    assert ThresholdRule.objects.get(pk=changed.json()["id"]).effective_from == given


@pytest.mark.parametrize("body", [[{"value": 5}], "value", 7])
def test_a_change_that_is_not_an_object_is_a_400_and_writes_nothing(api, parties, body):
    treaty = api(parties.users["treaty"])
    first = _declare(treaty, "watch-shape", timezone.now() - timedelta(days=1))
    events = LogEventData.objects.count()
    refused = treaty.patch(f"/api/v1/thresholds/{first['id']}/", body)
    assert refused.status_code == 400, refused.content
    assert refused.json()["code"]
    assert ThresholdRule.objects.filter(key="watch-shape").count() == 1
    assert LogEventData.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_two_first_declarations_of_one_key_at_once_make_versions_one_and_two(parties):
    treaty = parties.users["treaty"]
    since = timezone.now() - timedelta(days=1)
    barrier = threading.Barrier(4)
    errors = []

    def declare(value):
        try:
            barrier.wait()
            services.declare(treaty, "watch-race", **{**TERMS, "value": value, "effective_from": since})
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=declare, args=(100 + i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    versions = ThresholdRule.objects.filter(key="watch-race")
    assert sorted(versions.values_list("version", flat=True)) == [1, 2, 3, 4]
    assert versions.filter(superseded_at__isnull=True).count() == 1
    assert LogEventData.objects.filter(event="threshold.declared").count() == 4
