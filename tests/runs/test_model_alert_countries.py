"""A model trained in two countries: its alert is on both territories (hostile review of runs, 2026-12-06).

An alert row holds one country, and a model's was the first of its runs' countries: op-a's model trained in
the US with one small run declared in France raised an alert only one of the two inspectorates (and the treaty
body) could open, though both read its `alert.raised` in the log. Every inspectorate that sees one of the model's runs sees the model's alerts now, as
it does a run's; closing it stays the row's country's."""

from datetime import timedelta

import pytest

from compliance import run_review
from compliance.services import declare as declare_rule
from inventory.models import Facility
from tests.attestations.conftest import now
from tests.factories import OrganisationFactory, UserFactory
from tests.runs.test_run_rules import report, threshold_alerts, world  # noqa: F401


def _declare(parties, facility, at, model="frontier-7"):
    values = {
        "model_name": model,
        "kind": "pre_training",
        "planned_flop": 1e21,
        "precision": "bf16",
        "facilities": [Facility.objects.get(code=facility)],
        "clusters": [],
        "planned_start": at + timedelta(hours=1),
        "planned_end": at + timedelta(days=30),
        "description": "one model, two countries",
    }
    return run_review.declare(parties.users["op_a_admin"], values, now=at)


@pytest.fixture
def model_alert(world, parties, api):  # noqa: F811
    r = world.op_a.post(
        "/api/v1/facilities/",
        {"code": "FR-PAR-001", "name": "Paris", "country": "FR", "latitude": 48.85, "longitude": 2.35},
    )
    assert r.status_code == 201, r.content
    declare_rule(
        parties.users["treaty"],
        "model-watch",
        name="Model watch",
        metric="model_compute",
        scope="model",
        comparison="gt",
        value=1e22,
        severity="high",
        effective_from=now() - timedelta(days=30),
    )
    at = now() - timedelta(days=3)
    _declare(parties, "FR-PAR-001", at)  # a small run in France, no work reported
    us_run = _declare(parties, "US-VA-001", at)
    report(world, 1, workload="training", run=us_run.code)  # the work: 400 H100s in Virginia for a day
    [alert] = threshold_alerts(rule__key="model-watch")
    assert alert.scope == "model" and alert.country in ("FR", "US")  # one country of its runs
    return alert


def _own_and_other(world, alert):  # noqa: F811
    return (world.insp_us, world.insp_fr) if alert.country == "US" else (world.insp_fr, world.insp_us)


def test_each_inspectorate_of_the_models_runs_sees_its_alert(world, parties, api, model_alert):  # noqa: F811
    de = api(UserFactory(organisation=OrganisationFactory(code="insp-de", kind="inspectorate", jurisdictions=["DE"])))
    for client, sees in (
        (world.insp_us, True),
        (world.insp_fr, True),
        (world.treaty, True),
        (world.op_a, True),
        (world.op_b, False),
        (de, False),
    ):
        assert (client.get(f"/api/v1/alerts/{model_alert.pk}/").status_code == 200) is sees, client
        listed = [a["id"] for a in client.get("/api/v1/alerts/?scope=model").json()["results"]]
        assert (model_alert.pk in listed) is sees, client


def test_the_other_countrys_inspectorate_reads_but_does_not_close_it(world, model_alert):  # noqa: F811
    own, other = _own_and_other(world, model_alert)
    assert other.get(f"/api/v1/alerts/{model_alert.pk}/bundle/").status_code == 200
    for action in ("acknowledge", "dismiss", "resolve"):
        answer = other.post(f"/api/v1/alerts/{model_alert.pk}/{action}/", {"reason": "not ours to close"})
        assert answer.status_code == 403 and answer.json()["code"] == "outside_jurisdiction", answer.content
    assert own.post(f"/api/v1/alerts/{model_alert.pk}/acknowledge/", {"reason": "looking"}).status_code == 200


def test_another_operators_model_of_the_same_name_stays_unseen(world, parties, api, model_alert):  # noqa: F811
    """The key is per operator: the US inspectorate sees op-a's model, not a model op-b trains in Germany
    under the same name (nor does the model key of op-a's runs reach op-b's)."""
    from compliance.run_metrics import model_key

    assert model_alert.subject_key == model_key(parties.op_a.pk, "Frontier 7")
    assert model_alert.subject_key != model_key(parties.op_b.pk, "frontier-7")


def test_every_country_of_the_runs_reads_what_happens_to_the_alert(world, model_alert):  # noqa: F811
    """Its acknowledgement is read in both countries, as its raising is (hostile review of the log: the events
    of a run's or a model's alert after its raising were the row's one country's to read)."""
    from compliance.models import AlertTransition

    own, other = _own_and_other(world, model_alert)
    assert own.post(f"/api/v1/alerts/{model_alert.pk}/acknowledge/", {"reason": "looking"}).status_code == 200
    index = AlertTransition.objects.get(alert=model_alert, to_state="acknowledged").log_index
    for client, reads in ((own, True), (other, True), (world.treaty, True), (world.op_a, True), (world.op_b, False)):
        answer = client.get(f"/api/v1/log/entries/{index}")
        assert (answer.status_code == 200) is reads, (client, answer.content)
        if reads:
            assert answer.json()["data"]["to"] == "acknowledged"


def test_each_inspectorate_of_the_models_runs_is_sent_its_alert(world, parties, api, model_alert):  # noqa: F811
    """A client of the README's alert delivery, 2026-12-07: subscriptions heard of an alert by its row's one
    country, so the inspectorate of the model's other country, which reads the alert and its `alert.raised`, was
    never sent it. Each inspectorate that reads the alert's events is sent it; a third country's is not."""
    from compliance.delivery import notify
    from compliance.models import Subscription

    de = OrganisationFactory(code="insp-de", kind="inspectorate", jurisdictions=["DE"])
    subs = {
        code: Subscription.objects.create(organisation=org, name=code, email=f"{code}@example.org", min_severity="low")
        for code, org in (("insp-us", parties.insp_us), ("insp-fr", parties.insp_fr), ("insp-de", de))
    }
    filtered = Subscription.objects.create(
        organisation=parties.insp_us, name="us-only", email="us-only@example.org", min_severity="low", countries=["US"]
    )
    sent = {d.subscription_id for d in notify(model_alert.pk, "alert.raised")}
    assert sent == {subs["insp-us"].pk, subs["insp-fr"].pk, filtered.pk}
