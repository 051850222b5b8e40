"""A preset loaded again makes its next version take effect when it is loaded, as a `PATCH` naming no start does
(compliance.versioning.declare), not at the treaty's date its first version cites: dated back to 2025, the
reloaded version would have every party read (from the API and the log) that the preset's terms governed all along,
and that the treaty body's version between them never did."""

import json
from datetime import UTC, datetime

from django.core.management import call_command
from django.utils import timezone

from compliance import services
from compliance.models import ThresholdRule
from transparency.models import LogEventData


def test_a_reloaded_preset_takes_effect_when_reloaded_and_once(parties):
    call_command("load_presets", "draft-treaty", verbosity=0)
    v1 = ThresholdRule.objects.get(key="treaty-run-review", version=1)
    assert v1.effective_from == datetime(2025, 1, 1, tzinfo=UTC)  # a new rule cites the treaty's own date
    # The treaty body changes the line; the registry's presets, loaded again, restore the draft's figure.
    services.declare(parties.users["treaty"], "treaty-run-review", value=2e22)
    changed = timezone.now()
    call_command("load_presets", "draft-treaty", verbosity=0)
    v3 = ThresholdRule.objects.get(key="treaty-run-review", superseded_at__isnull=True)
    assert (v3.version, v3.value) == (3, 1e22)
    assert v3.effective_from >= changed
    event = LogEventData.objects.get(event="threshold.declared", index=v3.log_index)
    assert json.loads(event.data_jcs)["effective_from"] == v3.effective_from.isoformat()
    # What governed when the treaty body's version was in force is that version.
    assert ThresholdRule.objects.in_force(changed).get(key="treaty-run-review").version == 2
    # Loaded once more with nothing changed: no new version.
    call_command("load_presets", "draft-treaty", verbosity=0)
    assert ThresholdRule.objects.filter(key="treaty-run-review").count() == 3


def test_a_reload_does_not_date_a_retired_rule_back_into_force(parties):
    call_command("load_presets", "draft-treaty", verbosity=0)
    treaty = parties.users["treaty"]
    services.declare(treaty, "treaty-run-review", value=2e22)
    changed = timezone.now()
    services.retire(treaty, ThresholdRule.objects.get(key="treaty-run-review", superseded_at__isnull=True))
    lapsed = timezone.now()
    call_command("load_presets", "draft-treaty", verbosity=0)
    assert ThresholdRule.objects.in_force(changed).get(key="treaty-run-review").version == 2
    assert not ThresholdRule.objects.in_force(lapsed).filter(key="treaty-run-review").exists()
    assert not ThresholdRule.objects.in_force(timezone.now()).filter(key="treaty-run-review").exists()
