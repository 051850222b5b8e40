"""Delegated delivery (ATTESTATION.md 6: "an API token of the same organisation, or of an uploader it delegated
to"): op-a lets op-b deliver op-a's statements. The signature still says who speaks; each test tries what a party
should not get from it."""

import pytest

from attestations.models import Attestation, Delegation, Rejection
from tests.attestations import independent as ind
from transparency.models import LogEventData


def grant(world, client=None, uploader="op-b"):
    return (client or world.op_a).post("/api/v1/delegations/", {"uploader": uploader})


def delivered_by_b(world, chips=("nvidia:A000000",)):
    """op-a's statement, signed with op-a's key, sent with op-b's token."""
    return world.op_b.post("/api/v1/attestations/", ind.envelope(world.location(list(chips)), world.key_a))


def test_an_uploader_delivers_only_while_the_operator_lets_it(world):
    assert delivered_by_b(world).status_code == 403  # no delegation: forbidden, as before
    assert Rejection.objects.filter(code="forbidden", organisation=world.p.op_b).exists()
    granted = grant(world)
    assert granted.status_code == 201, granted.content
    body = granted.json()
    assert (body["operator"], body["uploader"], body["in_force"]) == ("op-a", "op-b", True)
    event = LogEventData.objects.get(index=body["log_index"])
    assert event.event == "delegation.granted" and sorted(event.parties) == ["op-a", "op-b"]

    accepted = delivered_by_b(world)
    assert accepted.status_code == 201, accepted.content
    att = Attestation.objects.get(pk=accepted.json()["id"])
    assert (att.operator.code, att.uploaded_by_org.code) == ("op-a", "op-b")  # op-a speaks, op-b delivered
    # The statement names its uploader to those who read the delegation (README "Delegated delivery"): the
    # operator, the uploader, the treaty body, the operator's country's inspectorate.
    for reader in (world.op_a, world.op_b, world.treaty, world.api(world.p.users["insp_us"])):
        read = reader.get(f"/api/v1/attestations/{att.pk}/").json()
        assert (read["operator"], read["uploaded_by_org"]) == ("op-a", "op-b")

    revoked = world.op_a.post(f"/api/v1/delegations/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["in_force"] is False
    assert LogEventData.objects.get(index=revoked.json()["revoke_log_index"]).event == "delegation.revoked"
    again = delivered_by_b(world)
    assert again.status_code == 403 and again.json()["code"] == "forbidden"
    own, _ = world.submit(world.op_a, world.location(["nvidia:A000001"]))
    assert own.status_code == 201, own.content
    assert world.op_a.get(f"/api/v1/attestations/{own.json()['id']}/").json()["uploaded_by_org"] == "op-a"


def test_a_delegation_lends_no_voice(world):
    """The uploader delivers what the operator signed: a statement it signs itself about op-a's facility is still
    op-b speaking of a facility it does not run, and it may not deliver for a third party."""
    assert grant(world).status_code == 201
    own = world.op_b.post("/api/v1/attestations/", ind.envelope(world.location(["nvidia:A000000"]), world.key_b))
    assert own.status_code == 403 and own.json()["code"] in ("key_not_authorized", "facility_not_operated")
    # op-a delivering op-b's statement: op-b delegated nothing to op-a.
    b_statement = world.location(["nvidia:B000000"], facility="DE-FRA-001", operator="op-b")
    reverse = world.op_a.post("/api/v1/attestations/", ind.envelope(b_statement, world.key_b))
    assert reverse.status_code == 403 and reverse.json()["code"] == "forbidden"


def test_the_uploader_reads_what_it_delivered_and_nothing_else_of_the_operators(world):
    own = world.op_a.post("/api/v1/attestations/", ind.envelope(world.location(["nvidia:A000001"]), world.key_a))
    assert own.status_code == 201
    assert grant(world).status_code == 201
    sent = delivered_by_b(world)
    assert sent.status_code == 201
    seen = {row["id"] for row in world.op_b.get("/api/v1/attestations/").json()["results"]}
    assert sent.json()["id"] in seen and own.json()["id"] not in seen
    assert world.op_b.get(f"/api/v1/attestations/{own.json()['id']}/").status_code == 404
    assert world.op_b.get("/api/v1/facilities/US-VA-001/").status_code == 404  # no view of op-a's books


@pytest.mark.parametrize(
    ("who", "uploader", "status", "code"),
    [
        ("op_a_member", "op-b", 403, "forbidden"),  # an operator's admins delegate, not its members
        ("op_a_readonly", "op-b", 403, None),
        ("op_a_admin", "insp-us", 400, "invalid_uploader"),  # inspectorates judge statements, never deliver them
        ("op_a_admin", "nvidia", 400, "invalid_uploader"),
        ("op_a_admin", "op-a", 400, "invalid_uploader"),
        ("op_a_admin", "op-nowhere", 400, "unknown_organisation"),
        ("insp_us", "op-b", 403, "forbidden"),  # nobody delegates an operator's voice but the operator
        ("treaty", "op-b", 403, "forbidden"),
    ],
)
def test_who_may_delegate(world, api, who, uploader, status, code):
    response = grant(world, api(world.p.users[who]), uploader)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
    assert not Delegation.objects.exists()


def test_one_delegation_in_force_per_pair(world):
    assert grant(world).status_code == 201
    again = grant(world)
    assert again.status_code == 409 and again.json()["code"] == "already_delegated"
    assert Delegation.objects.count() == 1


def test_a_delegation_naming_another_operator_as_its_grantor_is_refused_not_read_past(world):
    """`operator` names who grants it; only the caller's own organisation can (a client's `"operator": "op-b"` was
    dropped, and op-a's delegation granted and logged as if the body said nothing of it)."""
    refused = world.op_a.post("/api/v1/delegations/", {"uploader": "op-b", "operator": "op-b"})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid"), refused.content
    assert "operator" in refused.json()["errors"]
    assert not Delegation.objects.exists() and not LogEventData.objects.filter(event="delegation.granted").exists()
    # Naming its own, as a client sending back what it read, passes.
    assert world.op_a.post("/api/v1/delegations/", {"uploader": "op-b", "operator": "op-a"}).status_code == 201


def test_who_sees_and_ends_a_delegation(world, api):
    delegation = grant(world).json()
    path = f"/api/v1/delegations/{delegation['id']}/"
    readers = {"op_a_member": 200, "op_b": 200, "insp_us": 200, "treaty": 200, "insp_fr": 404, "nvidia": 404}
    for who, status in readers.items():
        assert api(world.p.users[who]).get(path).status_code == status, who
    # Ending it: either party's admins; others who see it may not (403), the rest do not see it (404).
    for who, status in {"op_a_member": 403, "insp_us": 403, "treaty": 403, "insp_fr": 404, "nvidia": 404}.items():
        assert api(world.p.users[who]).post(f"{path}revoke/").status_code == status, who
    assert Delegation.objects.get(pk=delegation["id"]).revoked_at is None
    renounced = world.op_b.post(f"{path}revoke/")  # the uploader's admin gives it up
    assert renounced.status_code == 200 and renounced.json()["revoked_by"] is not None
    assert world.op_a.post(f"{path}revoke/").json()["code"] == "already_revoked"
    again = grant(world)
    assert again.status_code == 201  # and it may be granted again
    listed = lambda query: [d["id"] for d in world.op_b.get(f"/api/v1/delegations/{query}").json()["results"]]  # noqa: E731
    assert (listed("?in_force=true"), listed("?in_force=false")) == ([again.json()["id"]], [delegation["id"]])


def test_another_countrys_inspectorate_reads_the_statement_but_not_who_delivered_it(world, api):
    """A statement at op-a's facility in France is read by France's inspectorate; op-a's delegations are read by
    its own country's (the US's), so France's learns from the statement nothing of whom op-a let deliver it:
    `uploaded_by_org` is null to it, whether op-a or op-b delivered (a null for one only would say which)."""
    r = world.op_a.post(
        "/api/v1/facilities/",
        {"code": "FR-PAR-001", "name": "FR-PAR-001", "country": "FR", "latitude": 48.85, "longitude": 2.35},
    )
    assert r.status_code == 201, r.content
    assert grant(world).status_code == 201
    statement = world.location(["nvidia:A000002"], facility="FR-PAR-001")
    delegated = world.op_b.post("/api/v1/attestations/", ind.envelope(statement, world.key_a))
    own, _ = world.submit(world.op_a, world.location(["nvidia:A000003"], facility="FR-PAR-001"))
    assert delegated.status_code == 201 and own.status_code == 201, (delegated.content, own.content)
    ids = {"op-b": delegated.json()["id"], "op-a": own.json()["id"]}
    france = api(world.p.users["insp_fr"])
    for uploader, pk in ids.items():
        assert france.get(f"/api/v1/attestations/{pk}/").json()["uploaded_by_org"] is None
        for reader in (world.treaty, world.op_a):
            assert reader.get(f"/api/v1/attestations/{pk}/").json()["uploaded_by_org"] == uploader
    assert world.op_b.get(f"/api/v1/attestations/{ids['op-b']}/").json()["uploaded_by_org"] == "op-b"
    listed = {row["id"]: row["uploaded_by_org"] for row in france.get("/api/v1/attestations/").json()["results"]}
    assert listed == dict.fromkeys(ids.values())
