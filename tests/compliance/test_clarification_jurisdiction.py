"""An inspectorate asks for clarification only about its own jurisdictions (hostile review, session 14): before,
another country's inspectorate reading a run's alert opened a request it could not read back (a 500 after the
write), with a deadline and an escalation alert in the run's country."""

import pytest

from compliance.dispute_models import ClarificationRequest
from compliance.models import Alert
from runs.models import Run
from tests.attestations.conftest import World
from tests.runs.conftest import declaration, rule
from transparency.models import LogEventData


@pytest.fixture
def runs_world(api, parties):
    """op-a (US-VA-001, and FR-PAR-001 in France) under the draft's run rules; US and French inspectorates."""
    w = World(api, parties)
    rule(w.treaty, "run-review", 1e22, "review", review_days=30)
    rule(w.treaty, "run-prohibited", 1e24, "prohibit", severity="critical")
    w.insp_us = api(parties.users["insp_us"])
    w.insp_fr = api(parties.users["insp_fr"])
    r = w.op_a.post(
        "/api/v1/facilities/",
        {"code": "FR-PAR-001", "name": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35},
    )
    assert r.status_code == 201, r.content
    return w


class TestClarificationOutsideJurisdiction:
    """README, "Who may do what": "ask the party concerned for clarification (logged) | inspectorate: in its
    jurisdictions", and an alert on a run that the inspectorate reads because the run has a site in its
    country "is read, not handled" (403 `outside_jurisdiction`). The other country's inspectorate may not
    open a clarification request, with a deadline and an escalation alert, on the run's country's alert."""

    def test_the_other_countrys_inspectorate_does_not_ask_about_the_run_alert(self, runs_world, parties):
        w = runs_world
        r = w.op_a.post("/api/v1/runs/", declaration(flop=2e24, facilities=("US-VA-001", "FR-PAR-001")))
        assert r.status_code == 201, r.content
        alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=r.json()["code"]).pk))
        other = w.insp_fr if alert.country == "US" else w.insp_us
        assert other.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200  # it reads the alert (documented)
        before = LogEventData.objects.filter(event="clarification.requested").count()
        other.client.raise_request_exception = False
        asked = other.post(
            f"/api/v1/alerts/{alert.pk}/clarifications/", {"question": "Explain yourselves within 5 days."}
        )
        assert asked.status_code == 403, (asked.status_code, asked.content[:300])
        assert asked.json()["code"] == "outside_jurisdiction"
        # Nothing was written: no request awaiting op-a's answer, no event, nothing to escalate.
        assert not ClarificationRequest.objects.filter(alert=alert).exists()
        assert LogEventData.objects.filter(event="clarification.requested").count() == before
