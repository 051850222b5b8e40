"""The demo builder: everything the console shows on `make run`, once."""


def test_demo_populates_every_page(login, demo):
    from attestations.models import Attestation, Rejection
    from compliance.models import Alert
    from inventory.models import Facility, Inspection

    assert set(Facility.objects.values_list("code", flat=True)) >= {"US-VA-001", "US-TX-001", "DE-FRA-001"}
    assert Attestation.objects.filter(kind="location").count() == 2
    assert Attestation.objects.filter(kind="usage").count() == 7 + 3  # the week at Ashburn, the three halls
    assert set(Rejection.objects.values_list("code", flat=True)) == {"unknown_key", "stale_statement"}
    assert Inspection.objects.count() == 1
    states = dict(Alert.objects.filter(state="open").values_list("title", "severity"))
    assert any("Demo: 40 or more chips" in t for t in states)
    assert any("Covered chip cluster: US-VA-001 at" in t for t in states)
    assert any("Registered to another operator" in t for t in states)
    page = login("treaty").get("/map/").content.decode()
    # Ashburn red (high alerts), Abilene orange (a medium one), Frankfurt green (none).
    assert 'class="site high" cx=' in page and 'class="site other" cx=' in page and 'class="site none" cx=' in page


def test_demo_is_idempotent(demo):
    from django.apps import apps

    from demo.world import build

    def counts():
        return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "sessions"}

    first = counts()
    build()
    assert counts() == first


COMPUTE = ("unattributed_compute", "run_planned_compute", "run_attested_compute", "run_attested_over_plan")


def compute_alerts(**kw):
    from compliance.models import Alert

    return Alert.objects.filter(kind="threshold", rule__metric__in=COMPUTE, **kw)


def test_the_demo_shows_issue_17s_compute_scenarios(demo):
    """On the demo data: a month of inference by 400 H100s raises no run alert and nothing unexplained; the
    same compute as training with no run is unexplained; a 5e23 run past its plan by the preset's margin is
    alerted; a run declared at 2e24 is prohibited and alerted; silence approved a run, and the log says so."""
    import json

    from attestations.models import Attestation, UsageRecord
    from inventory.models import AnyFinding, Facility
    from runs.models import Run
    from transparency.models import LogEventData

    serving, unexplained, borealis_site = (
        Facility.objects.get(code=c) for c in ("US-OR-001", "US-OH-001", "US-GA-001")
    )
    # Hillsboro: 400 H100s, 31 days of inference, more FLOP than the prohibition, and no compute alert at all.
    month = UsageRecord.objects.filter(facility=serving)
    assert month.count() == 400 and {r.workload for r in month} == {"inference"}
    assert sum(r.flop_fp16 for r in month) > 1e24
    assert not compute_alerts(facility=serving).exists()
    assert not compute_alerts(rule__key="treaty-run-attested-prohibited").exists()
    # New Albany: the same compute as training, for no declared run: unexplained, at the facility, high.
    [alert] = compute_alerts(rule__key="treaty-unexplained-compute-facility")
    assert alert.facility == unexplained and alert.severity == "high" and alert.value > 2e24
    statement = Attestation.objects.get(kind="usage", facility=unexplained)
    assert statement.run_id is None
    assert alert.evidence.get().sources == [
        {"source": "attestation", "id": str(statement.pk), "log_index": statement.log_index}
    ]
    # Douglasville: a run declared at 5e23, attested past 1.1 x its plan: the run is alerted.
    borealis = Run.objects.get(model_name="demo-borealis-1")
    assert borealis.planned_flop == 5e23 and borealis.state == "under_review"
    assert UsageRecord.objects.filter(run=borealis, facility=borealis_site).count() == 400
    [over] = compute_alerts(rule__key="treaty-run-over-plan")
    assert over.scope == "run" and over.subject_key == str(borealis.pk) and over.threshold == 1.1
    assert 1.1 < over.value < 2
    assert not compute_alerts(facility=borealis_site, rule__metric="unattributed_compute").exists()
    # The three halls' statements are clean (no findings): what is alerted is their compute alone.
    halls = Attestation.objects.filter(kind="usage", facility__in=[serving, unexplained, borealis_site])
    assert halls.count() == 3
    ids = [str(pk) for pk in halls.values_list("pk", flat=True)]
    assert not AnyFinding.objects.filter(source="attestation", source_id__in=ids).exists()
    abilene = Attestation.objects.get(kind="location", facility__code="US-TX-001")  # it lists op-other's chip
    assert AnyFinding.objects.filter(source="attestation", source_id=str(abilene.pk)).exists()
    # The run declared at 2e24: prohibited, and alerted as such.
    colossus = Run.objects.get(model_name="demo-colossus")
    assert colossus.state == "prohibited" and colossus.planned_flop == 2e24
    [prohibited] = compute_alerts(scope="run", subject_key=str(colossus.pk))
    assert prohibited.rule.key == "treaty-run-prohibited" and prohibited.severity == "critical"
    # The run nobody reviewed for 30 days: approved by silence, a log event that says so.
    silent = Run.objects.get(model_name="demo-atlas-2")
    event = LogEventData.objects.get(event="run.approved_by_silence", object_id=silent.code)
    assert silent.state == "approved_by_silence" and json.loads(event.data_jcs)["to"] == "approved_by_silence"
    # Nothing else of the demo is a compute alert (the week at Ashburn is the silent run's); New Albany's cluster
    # is unexplained too, by the preset's cluster rule.
    found = sorted(compute_alerts().values_list("rule__key", "subject_label"))
    assert found == [
        ("treaty-run-over-plan", borealis.code),
        ("treaty-run-prohibited", colossus.code),
        ("treaty-unexplained-compute-cluster", "US-OH-001/oh-train-1"),
        ("treaty-unexplained-compute-facility", "US-OH-001"),
    ], found


def test_the_demo_shows_issue_19s_casework(login, demo):
    """An export awaiting the German inspectorate, a tip triaged into a case the US inspectorate reads, and a
    challenge inspection requested for that case, its acknowledgement clock running."""
    from casework.models import Case, Tip
    from inventory.models import ChallengeInspection, ExportAuthorisation

    export = ExportAuthorisation.objects.get()
    assert (export.status, export.origin_country, export.destination_country) == ("requested", "DE", "US")
    case = Case.objects.get()
    assert case.state == "under_inspection" and Tip.objects.get().case == case
    challenge = ChallengeInspection.objects.get()
    assert (challenge.case_ref, challenge.state, challenge.facility.code) == (case.code, "requested", "US-TX-001")
    assert "DE-BAFA-2026-0117" in login("inspector-de").get("/exports/").content.decode()
    assert case.code in login("inspector").get("/cases/").content.decode()
    assert "US-TX-001" in login("operator").get("/challenge-inspections/").content.decode()
    assert case.code not in login("inspector-de").get("/cases/").content.decode()


def test_the_demo_has_chips_awaiting_witness_and_one_on_the_watch_list(login, demo):
    from registry.models import Chip, DisposalRequest

    request = DisposalRequest.objects.get()
    assert request.state == "pending" and request.kind == "decommissioned"
    # Until witnessed the chips keep their status (and count); the lost one left at once.
    assert set(Chip.objects.filter(serial__in=["1653924010014", "1653924010015"]).values_list("status", flat=True)) != {
        "decommissioned"
    }
    assert Chip.objects.by_public_id("nvidia:1653824019043").get().status == "lost"
    assert "nvidia:1653824019043" in login("inspector").get("/watchlist/").content.decode()
    assert "certificate.pdf" in login("inspector").get("/disposals/").content.decode()


def test_the_readmes_demo_users_are_the_demos(demo):
    """README's table of demo users (user, organisation, role) is what `make run` creates: outside checkers sign
    in with it, and an inspector told it may rename its organisation would be surprised by a member's 403."""
    import re
    from pathlib import Path

    from django.conf import settings

    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    table = readme.split("| user | organisation | role | sees |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(
        r"^\| `([a-z-]+)` \| ([a-z-]+) \([^)]*\) \| (admin|member|read-only)(, and a superuser)?", table, re.M
    )
    documented = {user: (org, role, bool(superuser)) for user, org, role, superuser in rows}
    actual = {
        u.username: (u.organisation.code, u.role, u.is_superuser)
        for u in demo.users.values()
        if u.username in documented or u.is_superuser or u.username in ("treaty", "operator")
    }
    assert len(documented) == 7 and documented == actual
