"""Declaring network links and workload groups between an operator's sites: what is refused, with which
code, and that nothing refused is written or logged (inventory.services.links)."""

import json

import pytest

from inventory.models import NetworkLink, WorkloadGroup
from transparency.models import LogEventData


@pytest.fixture
def a(api, parties):
    client = api(parties.users["op_a_admin"])
    for code, lon in (("L-WEST", -77.0), ("L-EAST", -76.0)):
        response = client.post(
            "/api/v1/facilities/", {"code": code, "name": code, "country": "US", "latitude": 39.0, "longitude": lon}
        )
        assert response.status_code == 201, response.content
    assert client.post("/api/v1/clusters/", {"code": "k1", "facility": "L-WEST"}).status_code == 201
    return client


def _link(client, **overrides):
    body = {"code": "wan", "a": {"facility": "L-WEST"}, "b": {"facility": "L-EAST"}, "bandwidth_gbps": 100}
    return client.post("/api/v1/links/", {**body, **overrides})


def _nothing_written():
    return not NetworkLink.objects.exists() and not LogEventData.objects.filter(event="link.declared").exists()


@pytest.mark.parametrize(
    "overrides,code",
    [
        ({"b": {"facility": "L-WEST"}}, "link_to_itself"),
        (
            {"a": {"facility": "L-WEST", "cluster": "k1"}, "b": {"facility": "L-WEST", "cluster": "k1"}},
            "link_to_itself",
        ),
        ({"a": {"facility": "L-WEST", "cluster": "nope"}}, "invalid"),
        ({"bandwidth_gbps": -1}, "invalid"),
        ({"code": "no spaces allowed"}, "invalid"),
    ],
)
def test_bad_links_are_refused_and_leave_nothing(a, overrides, code):
    response = _link(a, **overrides)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert _nothing_written()


def test_a_link_and_its_log_event(a, parties):
    response = _link(a, a={"facility": "L-WEST", "cluster": "k1"}, name="dark fibre")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["a"] == {"facility": "L-WEST", "cluster": "k1"} and body["b"] == {"facility": "L-EAST", "cluster": None}
    assert body["operator"] == "op-a" and body["declared_by"] == parties.users["op_a_admin"].username
    event = LogEventData.objects.get(event="link.declared")
    assert event.index == body["log_index"] and event.object_id == "op-a/wan"
    logged = json.loads(event.data_jcs)
    assert len(logged.pop("salt")) == 32  # the log's own member (LOG.md section 2)
    assert logged == {
        "link": "wan",
        "operator": "op-a",
        "name": "dark fibre",
        "a": "L-WEST/k1",
        "b": "L-EAST",
        "bandwidth_gbps": 100,
        "by": parties.users["op_a_admin"].username,
    }
    # One active link per code; a retired one frees it.
    again = _link(a)
    assert again.status_code == 409 and again.json()["code"] == "link_code_taken"
    assert a.post(f"/api/v1/links/{body['id']}/retire/").status_code == 200
    assert a.post(f"/api/v1/links/{body['id']}/retire/").json()["code"] == "retired"
    assert _link(a).status_code == 201
    assert [x["code"] for x in a.get("/api/v1/links/?active=true").json()["results"]] == ["wan"]
    assert len(a.get("/api/v1/links/?facility=L-EAST").json()["results"]) == 2


def test_what_a_link_joins_is_fixed(a):
    created = _link(a).json()
    response = a.patch(f"/api/v1/links/{created['id']}/", {"b": {"facility": "L-WEST"}, "bandwidth_gbps": 5})
    assert response.status_code == 400 and response.json()["code"] == "fixed_field"
    assert NetworkLink.objects.get().bandwidth_gbps == 100
    assert not LogEventData.objects.filter(event="link.updated").exists()
    # The same value again changes nothing and logs nothing.
    assert a.patch(f"/api/v1/links/{created['id']}/", {"bandwidth_gbps": 100}).status_code == 200
    assert not LogEventData.objects.filter(event="link.updated").exists()


def test_workload_groups(a, parties):
    too_small = a.post("/api/v1/workload-groups/", {"code": "g", "sites": [{"facility": "L-WEST"}] * 2})
    assert too_small.status_code == 400 and too_small.json()["code"] == "group_too_small"
    for sites in ([{"facility": "L-WEST"}], []):  # one site, or none: fewer than two, the same answer
        too_small = a.post("/api/v1/workload-groups/", {"code": "g", "sites": sites})
        assert too_small.status_code == 400 and too_small.json()["code"] == "group_too_small", too_small.content
    assert not WorkloadGroup.objects.exists()
    created = a.post(
        "/api/v1/workload-groups/",
        {"code": "g", "sites": [{"facility": "L-WEST", "cluster": "k1"}, {"facility": "L-EAST"}]},
    )
    assert created.status_code == 201, created.content
    group = created.json()
    fixed = a.patch(f"/api/v1/workload-groups/{group['id']}/", {"sites": [{"facility": "L-WEST"}]})
    assert fixed.status_code == 400 and fixed.json()["code"] == "fixed_field"
    renamed = a.patch(f"/api/v1/workload-groups/{group['id']}/", {"name": "pre-training"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "pre-training"
    event = json.loads(LogEventData.objects.get(event="workload_group.updated").data_jcs)
    assert (event["before"]["name"], event["name"]) == ("", "pre-training")
    assert a.post(f"/api/v1/workload-groups/{group['id']}/retire/").json()["retired_at"] is not None
    retired = LogEventData.objects.get(event="workload_group.retired")
    assert json.loads(retired.data_jcs)["sites"] == ["L-EAST", "L-WEST/k1"]


def test_lists_cost_the_same_queries_however_many_rows(a):
    """No query per link or group (their sites are read with them)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(path):
        with CaptureQueriesContext(connection) as queries:
            assert a.get(path).status_code == 200
        return len(queries)

    sites = [{"facility": "L-WEST", "cluster": "k1"}, {"facility": "L-EAST"}]
    _link(a, code="l0")
    a.post("/api/v1/workload-groups/", {"code": "g0", "sites": sites})
    one = (cost("/api/v1/links/"), cost("/api/v1/workload-groups/"), cost("/api/v1/facilities/"))
    for n in range(1, 6):
        _link(a, code=f"l{n}", bandwidth_gbps=n)
        a.post("/api/v1/workload-groups/", {"code": f"g{n}", "sites": sites})
        a.post(
            "/api/v1/facilities/",
            {"code": f"L-{n}", "name": "x", "country": "US", "latitude": 30.0 + n, "longitude": -90.0},
        )
    assert (cost("/api/v1/links/"), cost("/api/v1/workload-groups/"), cost("/api/v1/facilities/")) == one
