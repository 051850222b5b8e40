"""Issue 17 (declared training runs, evidence bundles), reviewed as a hostile party after it was merged:
each test performs an attack with the attacker's own real token and failed on the code as it was merged.

The parties: op-a declares runs at its US facilities (and one in France); op-b is a rival; the US and
French inspectorates each see their own territory; the treaty body decides."""

import json
from datetime import timedelta

import pytest
from django.test import Client

from attestations.models import Attestation, UsageRecord
from compliance import run_review
from compliance.models import Alert
from inventory.models import AnyFinding, Facility
from protocol.evidence import verify_bundle
from runs.models import Run, RunUsageDay
from tests.attestations.conftest import World, now
from tests.console.helpers import text
from tests.runs.conftest import declaration, rule
from tests.runs.test_usage import rows, submit
from transparency.checkpoints import sign_if_due, verifier_key_line
from transparency.models import LogEventData


@pytest.fixture
def world(api, parties):
    """The runs world (tests/runs/conftest.py), and op-a's facility in France, FR-PAR-001."""
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


def declared_earlier(parties, facilities=("US-VA-001",), hours=6, start_in=timedelta(days=10)):
    """A run op-a declared `hours` ago (through the service, which takes the declaration's instant), whose
    planned start is still `start_in` ahead: it may be withdrawn."""
    at = now() - timedelta(hours=hours)
    body = declaration(facilities=[])
    values = {
        **{k: body[k] for k in ("model_name", "kind", "planned_flop", "precision", "description")},
        "facilities": list(Facility.objects.filter(code__in=facilities)),
        "clusters": [],
        "planned_start": now() + start_in,
        "planned_end": now() + start_in + timedelta(days=30),
    }
    return run_review.declare(parties.users["op_a_admin"], values, now=at)


def last_hours(n=3):
    return now() - timedelta(hours=n), now() - timedelta(hours=n - 1)


class TestEscapingReview:
    """An operator declares a run in the review band, lets its chips work for it (the compute is then
    explained, attributed to a declared run), and withdraws it before its planned start: the run leaves the
    review queue, is never approved by silence, and its work stays explained."""

    def test_a_run_that_has_done_work_cannot_be_withdrawn(self, world, parties):
        run = declared_earlier(parties)
        # Work before its planned start (the run may be withdrawn only then): attributed, with its finding.
        flags = submit(world, {**world.usage(rows("A000001"), *last_hours()), "run": run.code})["flags"]
        assert flags == {"run_outside_plan": 1}
        assert RunUsageDay.objects.filter(run=run).exists()
        r = world.op_a.post(f"/api/v1/runs/{run.code}/withdraw/", {"reason": "never mind"})
        assert r.status_code == 409, r.content
        assert r.json()["code"] == "run_has_usage"
        stored = Run.objects.get(pk=run.pk)
        assert stored.withdrawn_at is None and stored.state == "under_review"
        assert not LogEventData.objects.filter(event="run.withdrawn").exists()
        # Nor through the console.
        c = Client()
        c.force_login(parties.users["op_a_admin"])
        assert c.post(f"/runs/{run.code}/withdraw/", {"reason": "never mind"}).status_code == 400
        assert Run.objects.get(pk=run.pk).withdrawn_at is None

    def test_work_reported_for_a_withdrawn_run_is_a_finding_not_attributed(self, world, parties):
        """Withdraw first, report the work later (the statement is signed after the withdrawal): the work
        must not count as explained by a run its operator called off."""
        run = declared_earlier(parties)
        assert world.op_a.post(f"/api/v1/runs/{run.code}/withdraw/", {}).status_code == 200
        body = submit(world, {**world.usage(rows("A000001"), *last_hours()), "run": run.code})
        assert body["flags"] == {"run_withdrawn": 1}
        assert Attestation.objects.get(pk=body["id"]).run_id is None
        assert not UsageRecord.objects.filter(run__isnull=False).exists() and not RunUsageDay.objects.exists()
        finding = AnyFinding.objects.get(kind="run_withdrawn", source_id=str(body["id"]))
        assert finding.evidence["run"] == run.code and finding.organisation.code == "op-a"


class TestWorkElsewhere:
    """A run declared at a US facility explains work done at the operator's French facility: the French
    inspectorate does not see the run (it is not on its territory), and the French facility's compute is
    counted as explained."""

    def test_work_at_a_facility_the_run_did_not_declare_is_a_finding(self, world, parties):
        run = declared_earlier(parties, facilities=("US-VA-001",))
        body = submit(world, {**world.usage(rows("A000001"), *last_hours(), facility="US-CA-001"), "run": run.code})
        assert body["flags"].get("run_other_site") == 1, body["flags"]
        assert Attestation.objects.get(pk=body["id"]).run_id is None
        assert not RunUsageDay.objects.exists()
        finding = AnyFinding.objects.get(kind="run_other_site", source_id=str(body["id"]))
        assert finding.facility.code == "US-CA-001" and finding.evidence["run"] == run.code

    def test_a_declared_clusters_facility_counts_as_declared(self, world, parties):
        """The check must not refuse honest work: a run declared by cluster covers that cluster's facility."""
        at = now() - timedelta(hours=6)
        body = declaration(facilities=[])
        values = {
            **{k: body[k] for k in ("model_name", "kind", "planned_flop", "precision", "description")},
            "facilities": [],
            "clusters": list(Facility.objects.get(code="US-VA-001").clusters.filter(code="c-east-1")),
            "planned_start": now() - timedelta(hours=5),  # the work below lies in its plan
            "planned_end": now() + timedelta(days=20),
        }
        run = run_review.declare(parties.users["op_a_admin"], values, now=at)
        assert submit(world, {**world.usage(rows("A000001"), *last_hours()), "run": run.code})["flags"] == {}
        assert RunUsageDay.objects.get(run=run).facility.code == "US-VA-001"


class TestInspectorateSeesItsTerritoryOnly:
    """A run declared at facilities in two countries is seen by both inspectorates; the US inspectorate
    must not read the chips that worked in France (nor France's per-facility figures) off the run page."""

    def test_the_run_page_lists_only_the_chips_and_facilities_in_view(self, world, parties):
        run = declared_earlier(parties, facilities=("US-VA-001", "FR-PAR-001"))
        submit(world, {**world.usage(rows("A000001"), *last_hours()), "run": run.code})
        fr = submit(world, {**world.usage(rows("A000007"), *last_hours(), facility="FR-PAR-001"), "run": run.code})
        assert "run_other_site" not in fr["flags"]
        assert RunUsageDay.objects.filter(run=run).count() == 2
        for user, seen, hidden in (("insp_us", "US-VA-001", "FR-PAR-001"), ("insp_fr", "FR-PAR-001", "US-VA-001")):
            c = Client()
            c.force_login(parties.users[user])
            chips = text(c.get(f"/runs/{run.code}/?format=csv&table=chips"))
            facilities = text(c.get(f"/runs/{run.code}/?format=csv&table=facilities"))
            page = text(c.get(f"/runs/{run.code}/"))
            mine, theirs = ("A000001", "A000007") if user == "insp_us" else ("A000007", "A000001")
            assert mine in chips and theirs not in chips, (user, chips)
            assert seen in facilities and hidden not in facilities, (user, facilities)
            assert mine in page and theirs not in page, user
        # The operator and the treaty body see both.
        for user in ("op_a_admin", "treaty"):
            c = Client()
            c.force_login(parties.users[user])
            chips = text(c.get(f"/runs/{run.code}/?format=csv&table=chips"))
            assert "A000001" in chips and "A000007" in chips


class TestProhibitedRunEvidence:
    """The alert on a run declared above a prohibition is evidence like any other: its bundle must verify
    offline with the log key alone (the declaration's log entry covered by the frozen checkpoint, with its
    inclusion proof), even when the last checkpoint predates the declaration."""

    def test_the_prohibited_runs_alert_bundle_verifies(self, world, parties, settings):
        settings.CHIPREG_CHECKPOINT_INTERVAL_S = 3600  # the next checkpoint is not due for an hour
        sign_if_due(wait=False)
        r = world.op_a.post("/api/v1/runs/", declaration(flop=2e24))
        assert r.status_code == 201 and r.json()["state"] == "prohibited"
        run = Run.objects.get(code=r.json()["code"])
        alert = Alert.objects.get(scope="run", subject_key=str(run.pk))
        response = world.insp_us.get(f"/api/v1/alerts/{alert.pk}/bundle/")
        assert response.status_code == 200
        verified = verify_bundle(json.loads(response.content), verifier_key_line(), chips=b"")
        [entry] = verified.entries
        assert entry.log_index == run.log_index and entry.event == "run.declared" and entry.object == run.code
        assert entry.data_checked and entry.data["state"] == "prohibited"
        # The rival operator gets no bundle (nor learns the alert exists).
        assert world.op_b.get(f"/api/v1/alerts/{alert.pk}/bundle/").status_code == 404


class TestWhatARivalLearns:
    """What op-b learns by naming op-a's run, and who reads a run's log events (these held as merged; they
    pin the order of the checks so a later one cannot start answering a rival)."""

    def test_naming_a_rivals_withdrawn_run_says_only_that_it_is_not_yours(self, world, parties):
        run = declared_earlier(parties)
        assert world.op_a.post(f"/api/v1/runs/{run.code}/withdraw/", {}).status_code == 200
        start, end = last_hours()
        body = submit(
            world,
            {**world.usage(rows("B000001"), start, end, facility="DE-FRA-001", operator="op-b"), "run": run.code},
            world.op_b,
            world.key_b,
        )
        assert body["flags"] == {"run_not_own": 1}  # not run_withdrawn, nor run_other_site

    def test_every_state_change_of_a_run_is_an_event_for_its_readers_only(self, world, parties):
        run = declared_earlier(parties)
        decided = declared_earlier(parties)
        assert world.op_a.post(f"/api/v1/runs/{run.code}/withdraw/", {"reason": "budget"}).status_code == 200
        assert world.treaty.post(f"/api/v1/runs/{decided.code}/object/", {"reason": "no"}).status_code == 200
        indices = [
            e.index for e in LogEventData.objects.filter(object_id__in=[run.code, decided.code]).order_by("index")
        ]
        names = list(LogEventData.objects.filter(index__in=indices).order_by("index").values_list("event", flat=True))
        assert names == ["run.declared", "run.declared", "run.withdrawn", "run.objected"]
        for client, reads in (
            (world.op_a, True),
            (world.insp_us, True),
            (world.treaty, True),
            (world.op_b, False),
            (world.insp_fr, False),
        ):
            for index in indices:
                r = client.get(f"/api/v1/log/entries/{index}")
                assert r.status_code == (200 if reads else 403), (client.user, index, r.status_code)


class TestProhibitedRunAcrossBorders:
    """A run declared at facilities in two countries is seen by both inspectorates; the alert raised on it
    when it is declared above a prohibition must be too (the alert row holds one country, the first)."""

    def test_both_inspectorates_see_the_alert_on_a_run_on_their_territory(self, world, parties):
        from tests.factories import OrganisationFactory, UserFactory

        insp_de = OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
        de = world.api(UserFactory(organisation=insp_de, role="member"))
        r = world.op_a.post("/api/v1/runs/", declaration(flop=2e24, facilities=("US-VA-001", "FR-PAR-001")))
        assert r.status_code == 201 and r.json()["countries"] == ["FR", "US"]
        code = r.json()["code"]
        alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=code).pk))
        for client, sees in (
            (world.insp_us, True),
            (world.insp_fr, True),
            (world.treaty, True),
            (world.op_a, True),
            (world.op_b, False),
            (de, False),
        ):
            assert (client.get(f"/api/v1/runs/{code}/").status_code == 200) is sees
            assert (client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200) is sees, client.user
            listed = [a["id"] for a in client.get("/api/v1/alerts/").json()["results"]]
            assert (alert.pk in listed) is sees, client.user
            bundle = client.get(f"/api/v1/alerts/{alert.pk}/bundle/")
            assert (bundle.status_code == 200) is sees
        c = Client()
        c.force_login(parties.users["insp_us"])
        assert c.get(f"/alerts/{alert.pk}/").status_code == 200


class TestRuleVersionsLeaveNoGap:
    """The treaty body schedules the next version of its rules (a new threshold from next month). Until
    that version takes effect the current one still governs: an operator reading the public rules must not
    find a window in which no rule is in force and declare a prohibited run as below every threshold."""

    def test_a_scheduled_version_does_not_suspend_the_current_one(self, world, parties):
        later = (now() + timedelta(days=30)).isoformat()
        for key, value in (("run-prohibited", 5e23), ("run-review", 5e21)):
            current = world.treaty.get(f"/api/v1/thresholds/?key={key}").json()["results"][0]
            r = world.treaty.patch(f"/api/v1/thresholds/{current['id']}/", {"value": value, "effective_from": later})
            assert r.status_code == 200 and r.json()["version"] == 2, r.content
        prohibited = world.op_a.post("/api/v1/runs/", declaration(flop=2e24))
        assert prohibited.status_code == 201
        assert (prohibited.json()["state"], prohibited.json()["rule_version"]) == ("prohibited", 1)
        reviewed = world.op_a.post("/api/v1/runs/", declaration(flop=5e23))
        assert (reviewed.json()["state"], reviewed.json()["rule_version"]) == ("under_review", 1)
        # Once the new versions take effect, they govern (and only they).
        from compliance.run_review import classify

        verdict, rule = classify(6e23, now() + timedelta(days=31))
        assert (verdict.state, rule.version, rule.value) == ("prohibited", 2, 5e23)
        verdict, rule = classify(1e22, now() + timedelta(days=31))
        assert (verdict.state, rule.version) == ("under_review", 2)

    def test_retiring_the_scheduled_version_retires_the_rule(self, world, parties):
        """The treaty body retires the rule whose next version it had scheduled: nothing of it stays in force."""
        from compliance.run_review import classify

        current = world.treaty.get("/api/v1/thresholds/?key=run-review").json()["results"][0]
        later = (now() + timedelta(days=30)).isoformat()
        v2 = world.treaty.patch(f"/api/v1/thresholds/{current['id']}/", {"value": 5e21, "effective_from": later})
        assert classify(5e22)[0].state == "under_review"  # v1 still governs
        assert world.treaty.delete(f"/api/v1/thresholds/{v2.json()['id']}/").status_code == 204
        assert classify(5e22, now() + timedelta(seconds=1))[0].state == "below_threshold"
        assert classify(5e22, now() + timedelta(days=31))[0].state == "below_threshold"


class TestAnAlertIsItsCountrys:
    """Hostile review of 2026-12-06: the French inspectorate sees the alert on a run declared in the US and in
    France (the row names one country). It reads it; it does not dismiss or resolve the US's alert."""

    def test_the_other_countrys_inspectorate_reads_but_does_not_close_it(self, world, parties):
        r = world.op_a.post("/api/v1/runs/", declaration(flop=2e24, facilities=("US-VA-001", "FR-PAR-001")))
        assert r.status_code == 201
        alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=r.json()["code"]).pk))
        other = world.insp_fr if alert.country == "US" else world.insp_us
        own = world.insp_us if alert.country == "US" else world.insp_fr
        assert other.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200
        for action in ("acknowledge", "dismiss", "resolve"):
            answer = other.post(f"/api/v1/alerts/{alert.pk}/{action}/", {"reason": "not ours to keep"})
            assert answer.status_code == 403 and answer.json()["code"] == "outside_jurisdiction", answer.content
        assert Alert.objects.get(pk=alert.pk).state == "open"
        assert own.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"reason": "looking"}).status_code == 200

    def test_the_other_countrys_inspectorate_does_not_decide_an_answer_to_it(self, world, parties):
        r = world.op_a.post("/api/v1/runs/", declaration(flop=2e24, facilities=("US-VA-001", "FR-PAR-001")))
        alert = Alert.objects.get(scope="run", subject_key=str(Run.objects.get(code=r.json()["code"]).pk))
        other = world.insp_fr if alert.country == "US" else world.insp_us
        own = world.insp_us if alert.country == "US" else world.insp_fr
        answered = world.op_a.post(f"/api/v1/alerts/{alert.pk}/answers/", {"explanation": "A rehearsal run."})
        assert answered.status_code == 201, answered.content
        path = f"/api/v1/answers/{answered.json()['id']}/decide/"
        refused = other.post(path, {"decision": "accept", "reason": "fine by us"})
        assert refused.status_code in (403, 404), refused.content  # not its answer to see, or not its to decide
        assert own.post(path, {"decision": "accept", "reason": "fine"}).status_code == 200
