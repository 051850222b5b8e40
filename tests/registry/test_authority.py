"""Issue #15, the registry's part: no party speaks for another, widens its own
view, or changes a record unlogged. Each test performs the attack as the
hostile party, with its own real token, through the API (or Django admin, or
manage.py for the registry's own administrators)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from registry.models import AcceleratorModel, Chip, ChipEvent, Organisation
from registry.registration import register_chips
from tests.factories import UserFactory, chip_rows
from transparency.models import LogEventData

H100 = "nvidia-h100-sxm5-80gb"
H20 = "nvidia-h20"


def events(name, object_id=None):
    qs = LogEventData.objects.filter(event=name)
    if object_id is not None:
        qs = qs.filter(object_id=object_id)
    return list(qs.order_by("index"))


def data(event):
    return json.loads(event.data_jcs)


@pytest.fixture
def verified_log(db):
    """The log of every test that writes events verifies afterwards (verify_log)."""
    yield
    call_command("verify_log", stdout=StringIO())


pytestmark = pytest.mark.usefixtures("verified_log")


def can_read(api, user, event):
    response = api(user).get(f"/api/v1/log/entries/{event.index}")
    assert response.status_code in (200, 403), response.content
    return response.status_code == 200


# --- item 2: a 409 says nothing about another party's chip --------------------


def test_registering_another_partys_serial_says_only_that_it_is_taken(api, parties):
    register_chips(chip_rows("SECRET", 1, uuid="GPU-a-secret", board_part_number="692-A"), parties.users["op_a_admin"])
    b = api(parties.users["op_b"])
    answers = []
    # Guessing A's model and identity one field at a time: every guess gets the same answer.
    for guess in (
        chip_rows("SECRET", 1, model="nvidia-h200-sxm-141gb"),
        chip_rows("SECRET", 1, uuid="GPU-a-secret", board_part_number="692-A"),
        chip_rows("SECRET", 1, uuid="GPU-wrong"),
    ):
        response = b.post("/api/v1/chips/", guess)
        assert response.status_code == 409, response.content
        body = response.json()
        assert body["code"] == "chip_conflict"
        assert body["conflicts"] == [{"row": 1, "chip": "nvidia:SECRET000000", "registered_to_another_party": True}]
        answers.append({k: v for k, v in body.items() if k != "instance"})
    assert answers[0] == answers[1] == answers[2]
    for word in ("model", "uuid", "board_part_number", "custodian", "op-a"):
        assert word not in answers[0]["detail"]
    assert Chip.objects.get(serial="SECRET000000").custodian == parties.op_a


def test_a_conflict_with_ones_own_chip_keeps_its_detail(api, parties):
    a = api(parties.users["op_a_admin"])
    a.post("/api/v1/chips/", chip_rows("OWN", 1))
    response = a.post("/api/v1/chips/", chip_rows("OWN", 1, model="nvidia-h200-sxm-141gb"))
    assert response.status_code == 409
    assert response.json()["conflicts"] == [{"row": 1, "chip": "nvidia:OWN000000", "fields": ["model"]}]


# --- item 3: no party widens its own view ---------------------------------------


def test_inspectorate_admin_cannot_add_a_jurisdiction(api, parties):
    register_chips(chip_rows("USCHIP", 2), parties.users["op_a_admin"])  # in the US
    fr_admin = UserFactory(organisation=parties.insp_fr, role="admin")
    client = api(fr_admin)
    for change in ({"jurisdictions": ["FR", "US"]}, {"kind": "treaty_body"}, {"country": "US"}):
        response = client.patch("/api/v1/organisations/insp-fr/", change)
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "reserved_field"
    parties.insp_fr.refresh_from_db()
    assert parties.insp_fr.jurisdictions == ["FR"] and parties.insp_fr.kind == "inspectorate"
    assert client.get("/api/v1/chips/").json()["results"] == []
    assert client.get("/api/v1/chips/nvidia:USCHIP000000/").status_code == 404
    assert not events("organisation.updated")
    # Its own name is still its own to change (and logged).
    assert client.patch("/api/v1/organisations/insp-fr/", {"name": "Inspection FR"}).status_code == 200
    (renamed,) = events("organisation.updated", "insp-fr")
    assert data(renamed)["before"] == {"name": "INSP-FR"} and data(renamed)["after"] == {"name": "Inspection FR"}


def test_operator_cannot_move_its_chips_out_of_an_inspectorates_view(api, parties):
    register_chips(chip_rows("STAY", 1), parties.users["op_a_admin"])
    response = api(parties.users["op_a_admin"]).patch("/api/v1/organisations/op-a/", {"country": "FR"})
    assert response.status_code == 403 and response.json()["code"] == "reserved_field"
    parties.op_a.refresh_from_db()
    assert parties.op_a.country == "US"
    assert [c["serial"] for c in api(parties.users["insp_us"]).get("/api/v1/chips/").json()["results"]] == [
        "STAY000000"
    ]


def test_treaty_body_changes_jurisdictions_and_both_inspectorates_see_it(api, parties):
    treaty = api(parties.users["treaty"])
    response = treaty.patch("/api/v1/organisations/insp-fr/", {"jurisdictions": ["FR", "US"]})
    assert response.status_code == 200, response.content
    assert response.json()["jurisdictions"] == ["FR", "US"]
    (event,) = events("organisation.updated", "insp-fr")
    assert data(event)["before"] == {"jurisdictions": ["FR"]}
    assert data(event)["after"] == {"jurisdictions": ["FR", "US"]}
    assert data(event)["by"] == parties.users["treaty"].username
    assert {"FR", "US"} <= set(event.countries)
    assert can_read(api, parties.users["insp_fr"], event)
    assert can_read(api, parties.users["insp_us"], event)
    assert not can_read(api, parties.users["op_b"], event)


def test_operator_country_change_is_seen_by_the_old_and_new_inspectorates(api, parties):
    response = api(parties.users["treaty"]).patch("/api/v1/organisations/op-a/", {"country": "FR"})
    assert response.status_code == 200, response.content
    (event,) = events("organisation.updated", "op-a")
    assert data(event)["before"] == {"country": "US"} and data(event)["after"] == {"country": "FR"}
    assert can_read(api, parties.users["insp_us"], event)  # loses sight of op-a
    assert can_read(api, parties.users["insp_fr"], event)  # gains it
    assert can_read(api, parties.users["op_a_member"], event)


def test_treaty_body_does_not_rename_others_and_a_registry_admin_may_change_anything(api, parties):
    response = api(parties.users["treaty"]).patch("/api/v1/organisations/op-a/", {"name": "Hijacked"})
    assert response.status_code == 403
    root = UserFactory(organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True)
    response = api(root).patch("/api/v1/organisations/op-b/", {"name": "B GmbH", "country": "FR"})
    assert response.status_code == 200, response.content
    (event,) = events("organisation.updated", "op-b")
    assert data(event)["after"] == {"country": "FR", "name": "B GmbH"}
    assert {"DE", "FR"} <= set(event.countries)


# --- item 4: org admins never manage the registry's administrators -------------


def test_treaty_admin_cannot_reset_the_superusers_password(api, parties):
    root = UserFactory(
        organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True, password="root-original-pw-1"
    )
    staff = UserFactory(organisation=parties.treaty, role="member", is_staff=True, password="staff-original-pw-1")
    client = api(parties.users["treaty"])
    for target in (root, staff):
        for change in ({"password": "taken-over-pw-123"}, {"is_active": False}, {"role": "read-only"}):
            response = client.patch(f"/api/v1/users/{target.pk}/", change)
            # The README's code for it (it was the generic `forbidden` of a row one sees but may not change).
            assert (response.status_code, response.json()["code"]) == (403, "protected_user"), response.content
    # Another of its organisation's users it may not change for another reason keeps the generic answer.
    member = UserFactory(organisation=parties.treaty, role="member")
    response = api(member).patch(f"/api/v1/users/{parties.users['treaty'].pk}/", {"role": "member"})
    assert response.status_code == 403 and response.json()["code"] != "protected_user", response.content
    root.refresh_from_db()
    staff.refresh_from_db()
    assert root.check_password("root-original-pw-1") and root.is_active and root.role == "admin"
    assert staff.check_password("staff-original-pw-1") and staff.is_active and staff.role == "member"
    assert not Client().login(username=root.username, password="taken-over-pw-123")
    assert not events("user.updated")
    # Nor their tokens: an org admin neither sees nor revokes them.
    from registry.models import APIToken

    token, _ = APIToken.issue(root)
    assert token.pk not in {t["id"] for t in client.get("/api/v1/tokens/").json()["results"]}
    assert client.post(f"/api/v1/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_member_cannot_make_itself_admin(api, parties):
    member = parties.users["op_a_member"]
    response = api(member).patch(f"/api/v1/users/{member.pk}/", {"role": "admin"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.role == "member"
    # Nor through the service, whoever calls it.
    from core.errors import DomainError
    from registry import records

    with pytest.raises(DomainError) as exc:
        records.update_user(member, member, {"role": "admin"})
    assert exc.value.status == 403
    member.refresh_from_db()
    assert member.role == "member"


def test_a_member_naming_who_a_request_is_for_is_refused_not_dropped(api, parties):
    """A client written from the README, 2026-12-07: the registry administrator's POST users/ naming
    `"organisation": "op-b"` made a member of its own treaty body (which sees everything), its POST keys/ naming
    op-b registered a treaty body key, an org admin's `"is_superuser": true` answered 200 having done nothing, and
    POST tokens/ naming another user issued the caller's. Each is now 400 naming the member, nothing written; the
    member sent back as it reads (a client echoing a GET) passes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from attestations.models import SigningKey
    from registry.models import APIToken, User
    from tests.attestations.independent import public_pem

    root = UserFactory(organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True)
    admin, root_client = api(parties.users["op_a_admin"]), api(root)
    users, keys, tokens = User.objects.count(), SigningKey.objects.count(), APIToken.objects.count()
    for client, body in (
        (root_client, {"username": "meant-for-b", "role": "member", "organisation": "op-b"}),
        (admin, {"username": "meant-for-b", "role": "member", "organisation": "op-b"}),
        (admin, {"username": "meant-for-b", "role": "member", "organisation": "no-such-org"}),
        (admin, {"username": "meant-for-b", "role": "member", "is_superuser": True}),
        (admin, {"username": "meant-for-b", "role": "member", "is_staff": True}),
        (admin, {"username": "meant-for-b", "role": "member", "is_superuser": 0}),
        (admin, {"username": "meant-for-b", "role": "member", "organisation": ["op-a"]}),
    ):
        response = client.post("/api/v1/users/", body)
        assert response.status_code == 400, (body, response.content)
        named = set(body) - {"username", "role"}
        assert response.json()["code"] == "invalid" and set(response.json()["errors"]) == named, response.content
    member = parties.users["op_a_member"]
    for change in ({"is_superuser": True}, {"is_staff": True}, {"organisation": "op-b"}):
        response = admin.patch(f"/api/v1/users/{member.pk}/", change)
        assert response.status_code == 400, (change, response.content)
    member.refresh_from_db()
    assert (member.is_superuser, member.is_staff, member.organisation.code) == (False, False, "op-a")
    key = public_pem(Ed25519PrivateKey.generate())
    response = root_client.post("/api/v1/keys/", {"public_key": key, "organisation": "op-b"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"organisation"}, response.content
    response = admin.post("/api/v1/tokens/", {"name": "for-the-member", "user": member.username})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"user"}, response.content
    assert (User.objects.count(), SigningKey.objects.count(), APIToken.objects.count()) == (users, keys, tokens)

    # What the caller reads, sent back, passes.
    own = admin.get(f"/api/v1/users/{member.pk}/").json()
    assert admin.patch(f"/api/v1/users/{member.pk}/", {**own, "password": "a-long-enough-pass-1"}).status_code == 200
    created = admin.post("/api/v1/users/", {"username": "echoed", "role": "member", "organisation": "op-a"})
    assert created.status_code == 201 and created.json()["organisation"] == "op-a", created.content
    assert admin.post("/api/v1/keys/", {"public_key": key, "organisation": "op-a"}).status_code == 201
    issued = admin.post("/api/v1/tokens/", {"name": "mine", "user": parties.users["op_a_admin"].username})
    assert issued.status_code == 201, issued.content


def test_role_grants_follow_the_hierarchy(parties):
    from core.errors import DomainError
    from registry import authority

    admin, member = parties.users["op_a_admin"], parties.users["op_a_member"]
    authority.check_user_create(admin, parties.op_a, "admin")  # an admin may add an admin
    with pytest.raises(DomainError) as exc:
        authority._check_role_grant(member, "admin")
    assert exc.value.code == "role_above_own"
    with pytest.raises(DomainError):
        authority.check_user_create(member, parties.op_a, "read-only")  # members add nobody


def test_user_creation_and_role_changes_are_logged(api, parties):
    admin = api(parties.users["op_a_admin"])
    created = admin.post("/api/v1/users/", {"username": "new-clerk", "role": "read-only"})
    assert created.status_code == 201, created.content
    (event,) = events("user.created")
    assert data(event)["user"] == "new-clerk" and data(event)["role"] == "read-only"
    assert data(event)["organisation"] == "op-a" and event.parties == ["op-a"]
    pk = created.json()["id"]
    assert admin.patch(f"/api/v1/users/{pk}/", {"role": "member"}).status_code == 200
    assert admin.patch(f"/api/v1/users/{pk}/", {"is_active": False}).status_code == 200
    assert admin.patch(f"/api/v1/users/{pk}/", {"email": "clerk@example.org"}).status_code == 200  # not logged
    changes = [(data(e)["before"], data(e)["after"]) for e in events("user.updated")]
    assert changes == [({"role": "read-only"}, {"role": "member"}), ({"is_active": True}, {"is_active": False})]
    assert not can_read(api, parties.users["op_b"], events("user.updated")[0])


def test_a_password_given_at_creation_is_logged_as_set(api, parties):
    """A client written from the README, 2026-12-07: `password_set` flagged a password set after creation, not one
    given with the user, though whoever gives it can sign in as the user just the same."""
    admin = api(parties.users["op_a_admin"])
    response = admin.post("/api/v1/users/", {"username": "with-pw", "role": "member", "password": "a-long-pass-42"})
    assert response.status_code == 201, response.content
    assert admin.post("/api/v1/users/", {"username": "without-pw", "role": "member"}).status_code == 201
    created = {data(e)["user"]: data(e) for e in events("user.created")}
    by = parties.users["op_a_admin"].username
    assert created["with-pw"]["password_set"] is True and created["with-pw"]["by"] == by
    assert "password_set" not in created["without-pw"]
    assert all("a-long-pass-42" not in e.data_jcs and "pbkdf2" not in e.data_jcs for e in events("user.created"))


def test_an_admin_setting_a_members_password_is_logged_never_the_password(api, parties):
    """Whoever sets a person's password signs in as them: what they do next (a token they mint, a statement, a
    decision) is logged under that person's name. So the setting is itself a `user.updated` event, by its
    author, with neither the password nor its hash."""
    member = parties.users["op_a_member"]
    before = len(events("user.updated"))
    r = api(parties.users["op_a_admin"]).patch(f"/api/v1/users/{member.pk}/", {"password": "taken-over-pw-123"})
    assert r.status_code == 200, r.content
    member.refresh_from_db()
    assert member.check_password("taken-over-pw-123")
    (event,) = events("user.updated")[before:]
    logged = data(event)
    assert logged["password_set"] is True and logged["by"] == parties.users["op_a_admin"].username
    assert logged["user"] == member.username and event.parties == ["op-a"]
    assert "taken-over-pw-123" not in event.data_jcs and member.password not in event.data_jcs
    assert not can_read(api, parties.users["op_b"], event)


# --- item 5: custody only by transfer; a chip's model only by its manufacturer --


def test_operator_cannot_push_its_chip_onto_another(api, parties):
    register_chips(chip_rows("PUSH", 1), parties.users["op_b"])
    response = api(parties.users["op_b"]).patch("/api/v1/chips/nvidia:PUSH000000/", {"custodian": "op-a"})
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "custody_by_transfer"
    chip = Chip.objects.get(serial="PUSH000000")
    assert chip.custodian == parties.op_b and chip.country == "DE"
    assert api(parties.users["op_a_admin"]).get("/api/v1/chips/").json()["results"] == []
    assert not ChipEvent.objects.filter(chip=chip).exists()
    assert not events("chip.custody_changed")


def test_operator_cannot_relabel_its_h100_as_an_h20(api, parties):
    register_chips(chip_rows("LABEL", 1), parties.users["op_a_admin"])
    for role in ("op_a_admin", "op_a_member"):
        response = api(parties.users[role]).patch("/api/v1/chips/nvidia:LABEL000000/", {"model": H20})
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "model_correction_reserved"
    # Another manufacturer cannot either (the chip is not its make: not even found).
    amd = UserFactory(organisation=parties.amd, role="member")
    assert api(amd).patch("/api/v1/chips/nvidia:LABEL000000/", {"model": H20}).status_code == 404
    assert Chip.objects.get(serial="LABEL000000").model.slug == H100
    assert not events("chip.model_corrected")


def test_manufacturer_corrects_the_model_and_the_old_value_is_kept(api, parties):
    register_chips(chip_rows("FIX", 1), parties.users["op_a_admin"])
    response = api(parties.users["nvidia"]).patch(
        "/api/v1/chips/nvidia:FIX000000/", {"model": H20, "reason": "sold as H20"}
    )
    assert response.status_code == 200, response.content
    # The manufacturer does not hold the chip: it learns nothing more of it than it said.
    assert response.json() == {"id": "nvidia:FIX000000", "model": H20}
    assert Chip.objects.get(serial="FIX000000").model.slug == H20
    history = api(parties.users["op_a_admin"]).get("/api/v1/chips/nvidia:FIX000000/history/").json()["results"]
    assert [(h["kind"], h["before"], h["after"]) for h in history] == [("model", {"model": H100}, {"model": H20})]
    assert history[0]["actor_organisation"] == "nvidia" and history[0]["reason"] == "sold as H20"
    (event,) = events("chip.model_corrected", "nvidia:FIX000000")
    assert data(event)["before"] == {"model": H100} and history[0]["log_index"] == event.index
    # The holder and the inspectorate where the chip is see the correction.
    assert can_read(api, parties.users["op_a_member"], event)
    assert can_read(api, parties.users["insp_us"], event)
    assert not can_read(api, parties.users["op_b"], event)
    # Only the model: a manufacturer changes nothing else of a chip it does not hold.
    response = api(parties.users["nvidia"]).patch("/api/v1/chips/nvidia:FIX000000/", {"status": "lost"})
    assert response.status_code == 404
    # The treaty body may correct it too.
    response = api(parties.users["treaty"]).patch("/api/v1/chips/nvidia:FIX000000/", {"model": H100})
    assert response.status_code == 200, response.content
    assert response.json()["custodian"] == "op-a"  # the treaty body sees every chip


# --- item 7: every change to a record others rely on is a log event ------------


def test_catalog_correction_is_logged_and_every_inspectorate_sees_it(api, parties):
    response = api(parties.users["treaty"]).patch(f"/api/v1/models/{H100}/", {"tdp_w": 701, "reason": "rev B"})
    assert response.status_code == 200, response.content
    (event,) = events("model.corrected", H100)
    assert data(event)["before"] == {"tdp_w": 700.0} and data(event)["after"] == {"tdp_w": 701}
    revision = AcceleratorModel.objects.get(slug=H100).revisions.get()
    assert revision.log_index == event.index
    assert can_read(api, parties.users["insp_us"], event) and can_read(api, parties.users["insp_fr"], event)


def test_tokens_issued_and_revoked_through_the_api_are_logged(api, parties):
    client = api(parties.users["op_a_member"])
    created = client.post("/api/v1/tokens/", {"name": "ci"})
    assert created.status_code == 201
    assert client.post(f"/api/v1/tokens/{created.json()['id']}/revoke/").status_code == 200
    assert client.post(f"/api/v1/tokens/{created.json()['id']}/revoke/").status_code == 200  # once is enough
    (issued,) = events("token.issued")
    (revoked,) = events("token.revoked")
    assert data(issued)["prefix"] == data(revoked)["prefix"] == created.json()["prefix"]
    assert "token" not in data(issued) and created.json()["token"] not in issued.data_jcs


def test_a_token_is_revoked_once_even_by_two_revocations_at_the_same_time(api, parties):
    """Two revocations that each read the token before either wrote (two admins, or a retried request) revoked it
    twice: the second moved `revoked_at` past the time the first `token.revoked` event states, and logged again.
    The revocation reads the row under a lock."""
    from registry import records
    from registry.models import APIToken

    row, _ = APIToken.issue(parties.users["op_a_member"])
    first, second = APIToken.objects.get(pk=row.pk), APIToken.objects.get(pk=row.pk)  # both read it unrevoked
    records.revoke_token(first, parties.users["op_a_admin"])
    records.revoke_token(second, parties.users["op_a_member"])
    (revoked,) = events("token.revoked")
    row.refresh_from_db()
    assert data(revoked)["at"] == row.revoked_at.isoformat()
    assert data(revoked)["by"] == parties.users["op_a_admin"].username


def test_manage_py_changes_are_logged(db):
    out = StringIO()
    call_command("create_org", "op-cli", "--kind", "operator", "--country", "DE", stdout=out)
    call_command("create_user", "cli-admin", "--org", "op-cli", "--role", "admin", stdout=out)
    call_command("update_org", "op-cli", "--country", "FR", stdout=out)
    (created,) = events("organisation.created", "op-cli")
    assert data(created)["by"] == "manage.py" and data(created)["country"] == "DE"
    (updated,) = events("organisation.updated", "op-cli")
    assert data(updated)["before"] == {"country": "DE"} and set(updated.countries) == {"DE", "FR"}
    assert [data(e)["user"] for e in events("user.created")] == ["cli-admin"]
    assert Organisation.objects.get(code="op-cli").country == "FR"


@pytest.fixture
def root(parties):
    user = UserFactory(organisation=parties.treaty, role="admin", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_admin_edits_of_organisations_users_and_models_are_logged(root, parties):
    org = parties.insp_fr
    form = {
        "code": org.code,
        "name": org.name,
        "kind": "inspectorate",
        "country": "FR",
        "jurisdictions": '["DE", "FR"]',
    }
    response = root.post(f"/admin/registry/organisation/{org.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    (event,) = events("organisation.updated", "insp-fr")
    assert data(event)["after"] == {"jurisdictions": ["DE", "FR"]} and "DE" in event.countries
    form = {"code": "op-admin", "name": "Added", "kind": "operator", "country": "NL", "jurisdictions": "[]"}
    assert root.post("/admin/registry/organisation/add/", form).status_code == 302
    (event,) = events("organisation.created", "op-admin")
    assert data(event)["country"] == "NL" and event.countries == ["NL"]

    model = AcceleratorModel.objects.get(slug=H100)
    from django.forms.models import model_to_dict

    fields = {k: ("" if v is None else v) for k, v in model_to_dict(model).items() if k not in ("id", "manufacturer")}
    fields.update({"tdp_w": 650, "revisions-TOTAL_FORMS": 0, "revisions-INITIAL_FORMS": 0})
    response = root.post(f"/admin/registry/acceleratormodel/{model.pk}/change/", fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events("model.corrected", H100)
    assert data(event)["after"] == {"tdp_w": 650.0} and data(event)["reason"] == "admin edit"

    member = parties.users["op_a_member"]
    form = {
        "username": member.username,
        "organisation": member.organisation_id,
        "role": "admin",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = root.post(f"/admin/registry/user/{member.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events("user.updated")
    assert data(event)["before"] == {"role": "member"} and data(event)["after"] == {"role": "admin"}


def test_chips_and_tokens_are_read_only_in_admin(root, parties):
    register_chips(chip_rows("ADM", 1), parties.users["op_a_admin"])
    chip = Chip.objects.get(serial="ADM000000")
    assert root.get("/admin/registry/chip/add/").status_code == 403
    response = root.post(f"/admin/registry/chip/{chip.pk}/change/", {"custodian": parties.op_b.pk, "model": 1})
    assert response.status_code == 403
    assert root.post(f"/admin/registry/chip/{chip.pk}/delete/", {"post": "yes"}).status_code == 403
    assert root.post(f"/admin/registry/organisation/{parties.op_a.pk}/delete/", {"post": "yes"}).status_code == 403
    assert root.get("/admin/registry/apitoken/add/").status_code == 403
    chip.refresh_from_db()
    assert chip.custodian == parties.op_a
