"""An inspectorate asks for clarification only about its own jurisdictions (hostile review, session 14): before,
another country's inspectorate reading a run's alert opened a request it could not read back (a 500 after the
write), with a deadline and an escalation alert in the run's country."""

from compliance.dispute_models import ClarificationRequest
from compliance.models import Alert
from runs.models import Run
from tests.authz_review.test_runs_holes import world  # noqa: F401  (the runs world, with FR-PAR-001)
from tests.runs.conftest import declaration
from transparency.models import LogEventData


class TestClarificationOutsideJurisdiction:
    """README, "Who may do what": "ask the party concerned for clarification (logged) | inspectorate: in its
    jurisdictions", and an alert on a run that the inspectorate reads because the run has a site in its
    country "is read, not handled" (403 `outside_jurisdiction`). The other country's inspectorate may not
    open a clarification request, with a deadline and an escalation alert, on the run's country's alert."""

    def test_the_other_countrys_inspectorate_does_not_ask_about_the_run_alert(self, world, parties):  # noqa: F811
        w = world
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

    def test_the_overdue_alert_of_a_request_about_a_run_alert_is_the_requesters_country_s(self, world, parties):  # noqa: F811
        """A run's alert is read in every country of the run, but a request about it, its answers and its log events
        are the alert's country's (and the requester's): the overdue alert its clock raises is theirs too, not an
        alert on the run that tells the run's other countries who asked what, and that it went unanswered."""
        from datetime import timedelta

        from compliance.disputes import escalate_overdue

        w = world
        r = w.op_a.post("/api/v1/runs/", declaration(flop=2e24, facilities=("US-VA-001", "FR-PAR-001")))
        assert r.status_code == 201, r.content
        alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=r.json()["code"]).pk))
        own, other = (w.insp_us, w.insp_fr) if alert.country == "US" else (w.insp_fr, w.insp_us)
        own_user, other_user = (
            (parties.users["insp_us"], parties.users["insp_fr"])
            if alert.country == "US"
            else (parties.users["insp_fr"], parties.users["insp_us"])
        )
        asked = own.post(f"/api/v1/alerts/{alert.pk}/clarifications/", {"question": "Explain yourselves."})
        assert asked.status_code == 201, asked.content
        request = ClarificationRequest.objects.get(pk=asked.json()["id"])
        assert other.get(f"/api/v1/clarifications/{request.pk}/").status_code == 404  # not the other country's
        (escalation,) = escalate_overdue(now=request.deadline + timedelta(minutes=1))
        assert escalation.country == alert.country
        assert own.get(f"/api/v1/alerts/{escalation.pk}/").status_code == 200
        assert w.op_a.get(f"/api/v1/alerts/{escalation.pk}/").status_code == 200
        assert other.get(f"/api/v1/alerts/{escalation.pk}/").status_code == 404
        assert str(escalation.pk) not in [
            str(a["id"]) for a in other.get("/api/v1/alerts/?limit=1000").json()["results"]
        ]
        # Its transitions are read where the request is, not in every country of the run.
        assert own.post(f"/api/v1/alerts/{escalation.pk}/acknowledge/", {"reason": "chasing it"}).status_code == 200
        acked = LogEventData.objects.filter(event="alert.acknowledged", object_id=f"alert:{escalation.pk}").get()
        assert acked.visible_to(own_user) and not acked.visible_to(other_user)
