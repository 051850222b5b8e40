"""The permission matrix: every endpoint against every role.

An operator sees and changes only its own chips; an inspectorate reads what is
located in its jurisdictions; a treaty body reads everything; a manufacturer
sees the chips it registered until they leave its custody.
"""

import pytest

from registry.registration import register_chips
from tests.factories import chip_rows

ROLES = ["anon", "treaty", "insp_us", "insp_fr", "op_a_admin", "op_a_member", "op_a_readonly", "op_b", "nvidia"]


@pytest.fixture
def world(parties):
    u = parties.users
    register_chips(chip_rows("AAA", 2), u["op_a_admin"])  # in the US, custody op-a
    register_chips(chip_rows("BBB", 2), u["op_b"])  # in DE, custody op-b
    register_chips(chip_rows("NNN", 1), u["nvidia"])  # custody nvidia
    return parties


def client(api, world, role):
    return api(None if role == "anon" else world.users[role])


VISIBLE_CHIPS = {
    "anon": None,
    "treaty": {"AAA000000", "AAA000001", "BBB000000", "BBB000001", "NNN000000"},
    "insp_us": {"AAA000000", "AAA000001", "NNN000000"},  # NNN: the maker's stock, in its home country (US)
    "insp_fr": set(),
    "op_a_admin": {"AAA000000", "AAA000001"},
    "op_a_member": {"AAA000000", "AAA000001"},
    "op_a_readonly": {"AAA000000", "AAA000001"},
    "op_b": {"BBB000000", "BBB000001"},
    "nvidia": {"NNN000000"},
}


@pytest.mark.parametrize("role", ROLES)
def test_chip_list(api, world, role):
    response = client(api, world, role).get("/api/v1/chips/")
    if VISIBLE_CHIPS[role] is None:
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_authenticated"
        return
    assert response.status_code == 200
    assert {c["serial"] for c in response.json()["results"]} == VISIBLE_CHIPS[role]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("serial", ["AAA000000", "BBB000000", "NNN000000"])
def test_chip_retrieve_and_history(api, world, role, serial):
    c = client(api, world, role)
    for path in (f"/api/v1/chips/nvidia:{serial}/", f"/api/v1/chips/nvidia:{serial}/history/"):
        response = c.get(path)
        if role == "anon":
            assert response.status_code == 401
        elif serial in VISIBLE_CHIPS[role]:
            assert response.status_code == 200, response.content
        else:
            # Another operator's chip is indistinguishable from no chip at all.
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"


CAN_CHANGE = {"op_a_admin": {"AAA"}, "op_a_member": {"AAA"}, "op_b": {"BBB"}, "nvidia": {"NNN"}}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("prefix", ["AAA", "BBB", "NNN"])
def test_chip_change(api, world, role, prefix):
    response = client(api, world, role).patch(f"/api/v1/chips/nvidia:{prefix}000000/", {"status": "lost"})
    serial = f"{prefix}000000"
    if role == "anon":
        assert response.status_code == 401
    elif prefix in CAN_CHANGE.get(role, set()):
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "lost"
    elif role == "op_a_readonly" or serial in VISIBLE_CHIPS[role]:
        # Read-only users and readers (inspectors, treaty bodies) may look, not touch.
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    else:
        assert response.status_code == 404
    from registry.models import Chip

    changed = Chip.objects.get(serial=serial).status == "lost"
    assert changed == (prefix in CAN_CHANGE.get(role, set()))


REGISTER = {"op_a_admin": 201, "op_a_member": 201, "op_b": 201, "nvidia": 201}


@pytest.mark.parametrize("role", ROLES)
def test_chip_register(api, world, role):
    response = client(api, world, role).post("/api/v1/chips/", chip_rows("NEW", 1))
    expected = {"anon": 401}.get(role, REGISTER.get(role, 403))
    assert response.status_code == expected, response.content
    if expected == 201:
        from registry.models import Chip

        chip = Chip.objects.get(serial="NEW000000")
        assert chip.custodian == world.users[role].organisation


@pytest.mark.parametrize("role", ROLES)
def test_organisations(api, world, role):
    c = client(api, world, role)
    listing = c.get("/api/v1/organisations/")
    assert listing.status_code == (401 if role == "anon" else 200)
    created = c.post("/api/v1/organisations/", {"code": "op-new", "name": "New", "kind": "operator", "country": "US"})
    assert created.status_code == (401 if role == "anon" else 403)
    renamed = c.patch("/api/v1/organisations/op-a/", {"name": "Renamed"})
    expected = {"anon": 401, "op_a_admin": 200, "op_a_member": 403, "op_a_readonly": 403}.get(role, 403)
    assert renamed.status_code == expected, (role, renamed.content)


@pytest.mark.parametrize("role", ROLES)
def test_users(api, world, role):
    c = client(api, world, role)
    listing = c.get("/api/v1/users/")
    if role == "anon":
        assert listing.status_code == 401
        return
    me = world.users[role]
    assert {u["organisation"] for u in listing.json()["results"]} == {me.organisation.code}
    created = c.post("/api/v1/users/", {"username": f"new-{role}", "role": "member"})
    is_admin = me.role == "admin"
    assert created.status_code == (201 if is_admin else 403), created.content
    if is_admin:
        assert created.json()["organisation"] == me.organisation.code
    from tests.factories import UserFactory

    foreign_org = world.op_b if me.organisation != world.op_b else world.op_a
    stranger = UserFactory(organisation=foreign_org, role="read-only")
    # Admins cannot find people of other organisations; others may not write at all.
    assert c.patch(f"/api/v1/users/{stranger.pk}/", {"role": "admin"}).status_code == (404 if is_admin else 403)
    stranger.refresh_from_db()
    assert stranger.role == "read-only"


@pytest.mark.parametrize("role", ROLES)
def test_tokens(api, world, role):
    c = client(api, world, role)
    listing = c.get("/api/v1/tokens/")
    if role == "anon":
        assert listing.status_code == 401
        return
    me = world.users[role]
    owners = {t["user"] for t in listing.json()["results"]}
    assert owners == {me.username}
    created = c.post("/api/v1/tokens/", {"name": "ci"})
    assert created.status_code == 201
    # Someone else's token cannot be revoked or even seen.
    from registry.models import APIToken

    foreign, _ = APIToken.issue(world.users["op_b"] if role != "op_b" else world.users["op_a_member"])
    if role == "op_a_admin" and foreign.user.organisation_id == me.organisation_id:
        pytest.skip("admins manage their own organisation's tokens")
    assert c.post(f"/api/v1/tokens/{foreign.pk}/revoke/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


@pytest.mark.parametrize("role", ROLES)
def test_models(api, world, role):
    c = client(api, world, role)
    listing = c.get("/api/v1/models/")
    assert listing.status_code == (401 if role == "anon" else 200)
    response = c.patch("/api/v1/models/nvidia-h100-sxm5-80gb/", {"tdp_w": 701, "reason": "datasheet rev B"})
    expected = {"anon": 401, "treaty": 200}.get(role, 403)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("role", ROLES)
def test_log_reads(api, world, role):
    c = client(api, world, role)
    # Checkpoints, the key and proofs are public: anyone may audit the log.
    assert c.get("/api/v1/log/checkpoint").status_code == 200
    assert c.get("/api/v1/log/key").status_code == 200
    assert c.get("/api/v1/log/proof/inclusion?index=0&size=1").status_code == 200
    # Event data is not: op-a's registration is visible to op-a, treaty bodies and US inspectors.
    entry = c.get("/api/v1/log/entries/0")
    expected = {"anon": 401, "treaty": 200, "insp_us": 200}.get(role)
    if role.startswith("op_a"):
        expected = 200
    assert entry.status_code == (expected or 403), (role, entry.content)
