"""Covered chip clusters (draft agreement, Articles II and V), EO 14110's networked cluster, and the
consolidation clock: compliance.covered, the `covered_cluster`, `datacenter_cluster` and
`unaccepted_holdings` scopes, facility reviews and escalation."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from compliance import services
from compliance.evaluation import escalate_overdue, evaluate_all
from compliance.models import Aggregate, Alert, AlertEvidence, ThresholdRule
from inventory.models import Facility
from outbox.relay import drain_all
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency.models import LogEventData

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
H100_E = 15832 / 15840  # an H100 SXM in H100-equivalents (treaty TPP convention)
# Two sites of op-a about 50 km apart (0.58 degrees of longitude at 39 N): far beyond a campus (5 km).
WEST, EAST = (39.0, -77.0), (39.0, -76.42)


@pytest.fixture
def a(api, parties):
    return api(parties.users["op_a_admin"])


def site(client, code, point=WEST, country="US"):
    response = client.post(
        "/api/v1/facilities/",
        {"code": code, "name": code, "country": country, "latitude": point[0], "longitude": point[1]},
    )
    assert response.status_code == 201, response.content
    return Facility.objects.get(code=code)


def cluster(client, facility, code, gbps=None):
    response = client.post("/api/v1/clusters/", {"code": code, "facility": facility, "interconnect_gbps": gbps})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def h100s(user, prefix, n):
    register_chips(chip_rows(prefix, n), user)
    return [f"nvidia:{prefix}{i:06d}" for i in range(n)]


def declare(client, facility, chips, cluster_code=None):
    entries = [{"chip": c, "cluster": cluster_code} if cluster_code else c for c in chips]
    when = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client.post("/api/v1/declarations/", {"facility": facility, "as_of": when, "chips": entries})
    assert response.status_code == 201, response.content


def link(client, code, a_site, b_site, gbps):
    response = client.post(
        "/api/v1/links/",
        {"code": code, "a": a_site, "b": b_site, "bandwidth_gbps": gbps},
    )
    assert response.status_code == 201, response.content
    return response.json()


def covered_alerts():
    return Alert.objects.filter(rule__key="treaty-covered-cluster")


@pytest.fixture
def split(parties, a):
    """17 H100s of op-a: 9 at WEST-1, 8 at EAST-1, 50 km apart; the draft treaty's presets in force."""
    call_command("load_presets", "draft-treaty", verbosity=0)
    west, east = site(a, "WEST-1", WEST), site(a, "EAST-1", EAST)
    assert west.campus_id is None and east.campus_id is None
    chips = h100s(parties.users["op_a_admin"], "SPL", 17)
    declare(a, "WEST-1", chips[:9])
    declare(a, "EAST-1", chips[9:])
    drain_all()
    return west, east, chips


# --- the done-when ----------------------------------------------------------------------------


@pytest.mark.parametrize("gbps,covered", [(None, False), (10, False), (25, False), (100, True)])
def test_seventeen_h100s_in_two_facilities_50_km_apart_are_covered_only_when_networked_above_25_gbits(
    a, split, gbps, covered
):
    west, east, chips = split
    if gbps is not None:
        link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, gbps)
        drain_all()
    assert covered_alerts().exists() == covered
    key = f"25/{min(west.pk, east.pk)}"
    total = Aggregate.objects.get(scope="covered_cluster", subject_key=key)
    if not covered:
        # Each facility is a cluster of its own: 9 and 8 H100s, under the line.
        assert total.chip_count == 9
        assert Aggregate.objects.get(scope="covered_cluster", subject_key=f"25/{east.pk}").chip_count == 8
        return
    alert = covered_alerts().get()
    assert alert.subject_key == key and alert.scope == "covered_cluster"
    assert alert.value == pytest.approx(17 * H100_E) and alert.threshold == 16
    assert alert.operator_id == west.operator_id and alert.country == "US"
    assert "WEST-1" in alert.subject_label and "EAST-1" in alert.subject_label
    assert total.chip_count == 17
    evidence = AlertEvidence.objects.get(alert=alert)
    assert evidence.chips.splitlines() == sorted(chips)
    declared = LogEventData.objects.get(event="link.declared")
    assert {"source": "link", "id": "wan-1", "log_index": declared.index} in evidence.sources


def test_a_link_raised_to_100_gbits_joins_and_retired_parts_again(a, split):
    created = link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 10)
    drain_all()
    assert not covered_alerts().exists()
    response = a.patch(f"/api/v1/links/{created['id']}/", {"bandwidth_gbps": 100})
    assert response.status_code == 200, response.content
    drain_all()
    alert = covered_alerts().get()
    assert alert.cleared_at is None
    update = LogEventData.objects.get(event="link.updated")
    data = json.loads(update.data_jcs)
    assert (data["before"]["bandwidth_gbps"], data["bandwidth_gbps"]) == (10, 100)
    assert update.parties == ["op-a"] and update.countries == ["US"]

    response = a.post(f"/api/v1/links/{created['id']}/retire/")
    assert response.status_code == 200, response.content
    assert response.json()["retired_at"] is not None
    drain_all()
    alert.refresh_from_db()
    assert alert.cleared_at is not None
    assert Aggregate.objects.get(scope="covered_cluster", subject_key=alert.subject_key).chip_count == 9
    # A retired link stays on record and cannot change again.
    assert a.patch(f"/api/v1/links/{created['id']}/", {"bandwidth_gbps": 400}).json()["code"] == "retired"


def test_sites_declared_to_run_workloads_together_are_one_cluster_however_slow_their_network(a, split):
    west, east, _ = split
    response = a.post(
        "/api/v1/workload-groups/",
        {"code": "job-7", "name": "one training job", "sites": [{"facility": "WEST-1"}, {"facility": "EAST-1"}]},
    )
    assert response.status_code == 201, response.content
    assert [s["facility"] for s in response.json()["sites"]] == ["WEST-1", "EAST-1"]
    drain_all()
    alert = covered_alerts().get()
    assert alert.subject_key == f"25/{min(west.pk, east.pk)}"
    group = LogEventData.objects.get(event="workload_group.declared")
    assert json.loads(group.data_jcs)["sites"] == ["EAST-1", "WEST-1"]
    assert {"source": "workload_group", "id": "job-7", "log_index": group.index} in alert.evidence.get().sources


@pytest.mark.parametrize("n,covered", [(16, False), (17, True)])
def test_co_located_h100s_are_covered_above_16_h100e_and_not_at_16(parties, a, n, covered):
    call_command("load_presets", "draft-treaty", verbosity=0)
    fac = site(a, "ONE-1")
    declare(a, "ONE-1", h100s(parties.users["op_a_admin"], "ONE", n))
    drain_all()
    assert covered_alerts().filter(subject_key=f"25/{fac.pk}").exists() == covered
    assert Aggregate.objects.get(scope="covered_cluster", subject_key=f"25/{fac.pk}").h100e == pytest.approx(n * H100_E)


def test_a_campus_of_two_operators_is_one_cluster_that_neither_operator_is_shown(api, parties, a):
    """Co-location joins facilities whoever runs them; the component is then nobody's alone."""
    call_command("load_presets", "draft-treaty", verbosity=0)
    b = api(parties.users["op_b"])
    site(a, "A-HALL", (39.0, -77.0))
    site(b, "B-HALL", (39.0, -76.99), "US")  # 0.9 km away: one campus
    declare(a, "A-HALL", h100s(parties.users["op_a_admin"], "CA", 9))
    declare(b, "B-HALL", h100s(parties.users["op_b"], "CB", 9))
    drain_all()
    alert = covered_alerts().get()
    assert alert.operator_id is None and alert.country == "US"
    for user in ("op_a_admin", "op_b"):
        client = api(parties.users[user])
        assert client.get("/api/v1/alerts/?scope=covered_cluster").json()["results"] == []
        listed = client.get("/api/v1/aggregates/?scope=covered_cluster").json()["results"]
        assert [row["subject_key"] for row in listed] == []
    assert [
        x["id"] for x in api(parties.users["insp_us"]).get("/api/v1/alerts/?scope=covered_cluster").json()["results"]
    ] == [alert.pk]


def test_a_link_from_one_operator_to_another_is_refused_like_a_site_that_does_not_exist(api, parties, a):
    """B cannot make A's site part of a cluster of its own, nor learn from the refusal that A's site exists."""
    b = api(parties.users["op_b"])
    site(a, "A-ONLY", WEST)
    cluster(a, "A-ONLY", "a-train", 400)
    site(b, "B-ONLY", (50.1, 8.7), "DE")
    for cluster_code in (None, "a-train"):
        answers = {}
        for target in ("A-ONLY", "NO-SUCH-SITE"):
            response = b.post(
                "/api/v1/links/",
                {
                    "code": "sneaky",
                    "a": {"facility": "B-ONLY"},
                    "b": {"facility": target, "cluster": cluster_code},
                    "bandwidth_gbps": 400,
                },
            )
            assert response.status_code == 400, response.content
            answers[target] = json.dumps(response.json()).replace(target, "<code>")
        assert answers["A-ONLY"] == answers["NO-SUCH-SITE"]
        assert "op-a" not in answers["A-ONLY"]
    # Nor by a workload group.
    response = b.post(
        "/api/v1/workload-groups/", {"code": "g", "sites": [{"facility": "B-ONLY"}, {"facility": "A-ONLY"}]}
    )
    assert response.status_code == 400
    assert not LogEventData.objects.filter(event__in=["link.declared", "workload_group.declared"]).exists()
    from inventory.models import NetworkLink, WorkloadGroup

    assert not NetworkLink.objects.exists() and not WorkloadGroup.objects.exists()


def test_links_are_seen_by_their_operator_and_the_inspectorates_of_their_ends_only(api, parties, a, split):
    created = link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 100)
    drain_all()
    index = LogEventData.objects.get(event="link.declared").index
    for user, sees in (("op_a_member", True), ("insp_us", True), ("treaty", True), ("op_b", False), ("insp_fr", False)):
        client = api(parties.users[user])
        listed = client.get("/api/v1/links/").json()["results"]
        assert [x["code"] for x in listed] == (["wan-1"] if sees else []), user
        assert client.get(f"/api/v1/links/{created['id']}/").status_code == (200 if sees else 404), user
        assert client.get(f"/api/v1/log/entries/{index}").status_code == (200 if sees else 403), user
        aggregates = client.get("/api/v1/aggregates/?scope=covered_cluster").json()["results"]
        assert bool(aggregates) == sees, user
        assert bool(client.get("/api/v1/alerts/?scope=covered_cluster").json()["results"]) == sees, user
    # Only its operator changes or retires it: the others who see it get 403, the rest 404.
    for user, status in (("insp_us", 403), ("treaty", 403), ("op_b", 404), ("op_a_readonly", 403)):
        client = api(parties.users[user])
        assert client.post(f"/api/v1/links/{created['id']}/retire/").status_code == status, user
        assert client.patch(f"/api/v1/links/{created['id']}/", {"bandwidth_gbps": 1}).status_code == status, user
    assert api(parties.users["treaty"]).post("/api/v1/links/", {}).status_code == 403


# --- EO 14110: networked above 100 Gbit/s within one datacenter -----------------------------------------


def datacenter_rule(treaty, value=10, gbps=None):
    return services.declare(
        treaty,
        "dc-count",
        name="networked chips",
        metric="chip_count",
        scope="datacenter_cluster",
        link_gbps=gbps,
        comparison="ge",
        value=value,
        severity="medium",
        effective_from=SINCE,
    )


def test_eo_cluster_counts_only_clusters_networked_above_100_gbits_within_one_datacenter(parties, a):
    datacenter_rule(parties.users["treaty"])
    user = parties.users["op_a_admin"]
    site(a, "DC-1", WEST)
    site(a, "DC-2", EAST)
    fast_1, fast_2 = cluster(a, "DC-1", "fast-1", 400), cluster(a, "DC-1", "fast-2", 400)
    slow = cluster(a, "DC-1", "slow", 50)
    cluster(a, "DC-2", "far", 400)
    declare(a, "DC-1", h100s(user, "FA", 6), "fast-1")
    declare(a, "DC-1", h100s(user, "FB", 6), "fast-2")
    declare(a, "DC-1", h100s(user, "SL", 6), "slow")
    declare(a, "DC-2", h100s(user, "FR", 6), "far")
    drain_all()
    alerts = Alert.objects.filter(rule__key="dc-count")
    assert not alerts.exists()  # three sets of 6 in DC-1 (one not networked at all) and 6 in DC-2
    assert not Aggregate.objects.filter(scope="datacenter_cluster", subject_key=f"100/c{slow}").exists()
    # A link at exactly 100 Gbit/s is not "over 100"; across two datacenters it joins nothing.
    link(a, "at-100", {"facility": "DC-1", "cluster": "fast-1"}, {"facility": "DC-1", "cluster": "fast-2"}, 100)
    link(a, "wan", {"facility": "DC-1", "cluster": "fast-1"}, {"facility": "DC-2", "cluster": "far"}, 800)
    link(a, "to-slow", {"facility": "DC-1", "cluster": "fast-1"}, {"facility": "DC-1", "cluster": "slow"}, 800)
    drain_all()
    assert not alerts.exists()
    link(a, "spine", {"facility": "DC-1", "cluster": "fast-1"}, {"facility": "DC-1", "cluster": "fast-2"}, 400)
    drain_all()
    alert = alerts.get()
    assert alert.subject_key == f"100/c{min(fast_1, fast_2)}" and alert.value == 12
    assert "fast-1" in alert.subject_label and "fast-2" in alert.subject_label and "slow" not in alert.subject_label
    assert len(alert.evidence.get().chips.splitlines()) == 12
    # The slow cluster's fabric upgraded past the line: it joins the spine's set.
    response = a.patch(f"/api/v1/clusters/{slow}/", {"interconnect_gbps": 800})
    assert response.status_code == 200, response.content
    drain_all()
    assert Aggregate.objects.get(scope="datacenter_cluster", subject_key=alert.subject_key).chip_count == 18


def test_the_eo_preset_measures_datacenter_clusters_above_100_gbits(parties):
    call_command("load_presets", "us-eo-14110", verbosity=0)
    rule = ThresholdRule.objects.get(key="us-eo-14110-cluster", superseded_at__isnull=True)
    assert (rule.scope, rule.link_gbps, rule.metric, rule.value) == ("datacenter_cluster", 100, "peak_ops", 1e20)
    assert "100 Gbit/s" in rule.legal_reference and "single datacenter" in rule.legal_reference


def test_rules_of_two_bandwidths_measure_their_own_components(parties, a, split):
    """A rule at 5 Gbit/s sees the 10 Gbit/s link; the preset at 25 does not."""
    services.declare(
        parties.users["treaty"],
        "slow-links",
        name="slow links",
        metric="chip_count",
        scope="covered_cluster",
        link_gbps=5,
        comparison="ge",
        value=17,
        effective_from=SINCE,
    )
    west, east, _ = split
    link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 10)
    drain_all()
    assert Alert.objects.get(rule__key="slow-links").subject_key == f"5/{min(west.pk, east.pk)}"
    assert not covered_alerts().exists()


# --- consolidation into accepted facilities (Article V) -------------------------------------------------


def consolidation_alert():
    return Alert.objects.get(rule__key="treaty-consolidation")


def test_holdings_outside_accepted_facilities_have_120_days_then_escalate(api, parties, a, split):
    *_, chips = split
    alert = consolidation_alert()
    assert alert.subject_key == f"{parties.op_a.pk}:US" and alert.value == pytest.approx(17 * H100_E)
    assert alert.severity == "high" and alert.due_at == alert.raised_at + timedelta(days=120)
    assert alert.operator_id == parties.op_a.pk and alert.country == "US"
    sources = alert.evidence.get().sources
    assert {(s["source"], s["id"], s["review"]) for s in sources if s["source"] == "facility"} == {
        ("facility", "EAST-1", "declared"),
        ("facility", "WEST-1", "declared"),
    }
    assert alert.evidence.get().chips.splitlines() == sorted(chips)

    assert escalate_overdue(alert.due_at - timedelta(minutes=1)) == []
    [escalated] = escalate_overdue(alert.due_at + timedelta(days=1))
    assert escalated.pk == alert.pk
    alert.refresh_from_db()
    assert alert.severity == "critical" and alert.escalated_at is not None
    event = LogEventData.objects.get(event="alert.escalated")
    assert json.loads(event.data_jcs)["from"] == "high" and event.parties == ["op-a"] and event.countries == ["US"]
    assert alert.transitions.filter(log_index=event.index).exists()
    assert escalate_overdue(alert.due_at + timedelta(days=2)) == []  # once

    # The chips consolidated: both facilities accepted, the alert clears.
    treaty = api(parties.users["treaty"])
    for code in ("WEST-1", "EAST-1"):
        response = treaty.post(f"/api/v1/facilities/{code}/accept/", {"reason": "inspected"})
        assert response.status_code == 200, response.content
        assert (response.json()["review"], response.json()["reviewed_by"]) == (
            "accepted",
            parties.users["treaty"].username,
        )
    drain_all()
    alert.refresh_from_db()
    assert alert.cleared_at is not None
    assert Aggregate.objects.get(scope="unaccepted_holdings", subject_key=alert.subject_key).chip_count == 0


def test_holdings_consolidated_in_time_are_never_escalated(api, parties, a, split):
    alert = consolidation_alert()
    treaty = api(parties.users["treaty"])
    assert treaty.post("/api/v1/facilities/WEST-1/accept/", {}).status_code == 200
    drain_all()
    alert.refresh_from_db()
    assert alert.cleared_at is not None  # 8 H100s left outside: under the line
    assert Aggregate.objects.get(scope="unaccepted_holdings", subject_key=alert.subject_key).chip_count == 8
    assert escalate_overdue(alert.due_at + timedelta(days=1)) == []
    # Refused later: over the line again; the clock is the first one (leaving and coming back buys no time).
    response = treaty.post("/api/v1/facilities/WEST-1/refuse/", {"reason": "no inspector access"})
    assert response.status_code == 200, response.content
    drain_all()
    alert.refresh_from_db()
    assert alert.cleared_at is None and alert.due_at == alert.raised_at + timedelta(days=120)


def test_periodic_full_evaluation_escalates(parties, a, split, monkeypatch):
    alert = consolidation_alert()
    later = alert.due_at + timedelta(hours=1)
    monkeypatch.setattr("compliance.evaluation.timezone.now", lambda: later)
    from compliance.tasks import evaluate_all as periodic

    periodic()
    alert.refresh_from_db()
    assert alert.severity == "critical"


def test_facility_reviews_are_the_treaty_bodys_and_logged_for_operator_and_inspectorate(api, parties, a):
    fac = site(a, "REV-1")
    for user in ("op_a_admin", "insp_us", "op_b", "insp_fr"):
        response = api(parties.users[user]).post("/api/v1/facilities/REV-1/accept/", {"reason": "mine"})
        assert response.status_code == 403, (user, response.content)
        assert response.json()["code"] == "treaty_body_only"
    fac.refresh_from_db()
    assert fac.review == "declared"
    assert not LogEventData.objects.filter(event__startswith="facility.accepted").exists()

    treaty = api(parties.users["treaty"])
    for body in ({}, {"reason": ""}, {"reason": " \t\n"}, {"reason": None}):  # null was `invalid`
        assert treaty.post("/api/v1/facilities/REV-1/refuse/", body).json()["code"] == "reason_required", body
    assert treaty.post("/api/v1/facilities/NOPE/accept/", {}).status_code == 404
    response = treaty.post("/api/v1/facilities/REV-1/accept/", {"reason": "inspected on site"})
    assert response.status_code == 200, response.content
    body = response.json()
    reviewer = parties.users["treaty"].username
    assert (body["review"], body["reviewed_by"], body["review_reason"]) == ("accepted", reviewer, "inspected on site")
    assert treaty.post("/api/v1/facilities/REV-1/accept/", {}).json()["code"] == "already_decided"
    event = LogEventData.objects.get(event="facility.accepted")
    assert event.index == body["review_log_index"] and event.parties == ["op-a"] and event.countries == ["US"]
    for user, status in (("op_a_readonly", 200), ("insp_us", 200), ("op_b", 403), ("insp_fr", 403)):
        assert api(parties.users[user]).get(f"/api/v1/log/entries/{event.index}").status_code == status, user
    assert api(parties.users["op_a_readonly"]).get("/api/v1/facilities/REV-1/").json()["review"] == "accepted"
    assert api(parties.users["insp_fr"]).get("/api/v1/facilities/REV-1/").status_code == 404

    # Moved 50 km: not the place the treaty body accepted.
    response = a.patch("/api/v1/facilities/REV-1/", {"latitude": EAST[0], "longitude": EAST[1]})
    assert response.status_code == 200, response.content
    assert response.json()["review"] == "declared"
    update = json.loads(LogEventData.objects.filter(event="facility.updated").latest("index").data_jcs)
    assert (update["before"]["review"], update["after"]["review"]) == ("accepted", "declared")


def test_steady_state_full_evaluation_rewrites_no_component_total(parties, a, split):
    link(a, "wan-1", {"facility": "WEST-1"}, {"facility": "EAST-1"}, 100)
    drain_all()
    evaluate_all()
    stamps = dict(Aggregate.objects.filter(scope="covered_cluster").values_list("subject_key", "updated_at"))
    evaluate_all()
    assert dict(Aggregate.objects.filter(scope="covered_cluster").values_list("subject_key", "updated_at")) == stamps


def test_loading_the_presets_retires_the_rules_they_no_longer_hold(parties):
    """A registry that loaded the facility and campus covered-cluster rules keeps one covered_cluster rule."""
    old = services.declare(
        parties.users["treaty"],
        "treaty-covered-cluster-campus",
        name="Covered chip cluster (campus)",
        metric="tpp",
        scope="campus",
        comparison="gt",
        value=253_440,
        effective_from=SINCE,
        preset="draft-treaty",
    )
    mine = services.declare(
        parties.users["treaty"],
        "own-rule",
        name="own",
        metric="tpp",
        scope="campus",
        comparison="gt",
        value=1,
        effective_from=SINCE,
    )
    call_command("load_presets", "draft-treaty", verbosity=0)
    old.refresh_from_db()
    mine.refresh_from_db()
    assert old.effective_to is not None and mine.effective_to is None
    assert LogEventData.objects.filter(event="threshold.retired", object_id="threshold:treaty-covered-cluster-campus")
    in_force = set(ThresholdRule.objects.in_force(timezone.now()).values_list("key", flat=True))
    assert "treaty-covered-cluster" in in_force and "treaty-covered-cluster-campus" not in in_force


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"scope": "covered_cluster", "metric": "compute_window", "window_days": 30}, "scope"),
        ({"scope": "unaccepted_holdings", "metric": "compute_window", "window_days": 30}, "scope"),
        ({"scope": "facility", "link_gbps": 25}, "link_gbps"),
        ({"scope": "covered_cluster", "overdue_severity": "critical"}, "overdue_severity"),
    ],
)
def test_rules_their_scope_cannot_measure_are_refused(api, parties, fields, field):
    from django.core.exceptions import ValidationError

    spec = {"name": "n", "metric": "h100e", "comparison": "gt", "value": 1, "effective_from": SINCE, **fields}
    response = api(parties.users["treaty"]).post("/api/v1/thresholds/", {"key": "bad", **spec})
    assert response.status_code == 400 and field in json.dumps(response.json())
    with pytest.raises(ValidationError):
        services.declare(parties.users["treaty"], "bad", **spec)
    assert not ThresholdRule.objects.filter(key="bad").exists()


@pytest.mark.parametrize("path", ["/api/v1/links/", "/api/v1/workload-groups/"])
def test_site_ties_are_listed_by_whether_they_hold(a, path):
    """README, The API: `links/` and `workload-groups/` take `?active=` (true: those in force; false: retired)."""
    west, east = site(a, "TIE-W", WEST), site(a, "TIE-E", EAST)
    ids = []
    for code in ("tie-1", "tie-2"):
        sites = ({"facility": west.code}, {"facility": east.code})
        if path.endswith("links/"):
            body = {"code": code, "a": sites[0], "b": sites[1], "bandwidth_gbps": 100}
        else:
            body = {"code": code, "sites": list(sites)}
        response = a.post(path, body)
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert a.post(f"{path}{ids[0]}/retire/").status_code == 200
    listed = lambda query: [row["id"] for row in a.get(f"{path}{query}").json()["results"]]  # noqa: E731
    assert (listed("?active=true"), listed("?active=false"), sorted(listed(""))) == ([ids[1]], [ids[0]], sorted(ids))
