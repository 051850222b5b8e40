"""API tokens: shown once, stored as a keyed hash, expiring, revocable."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import APIToken
from registry.models.tokens import token_digest


def bearer(api_cls, token):
    client = api_cls()
    client.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_shown_once_and_stored_hashed(api, parties):
    user = parties.users["op_a_member"]
    created = api(user).post("/api/v1/tokens/", {"name": "agent"})
    assert created.status_code == 201
    token = created.json()["token"]
    row = APIToken.objects.get(pk=created.json()["id"])
    assert row.digest == token_digest(token) and token not in row.digest
    assert not APIToken.objects.filter(digest=token).exists()
    listing = api(user).get(f"/api/v1/tokens/{row.pk}/").json()
    assert "token" not in listing or listing["token"] is None
    assert listing["prefix"] == token[:12]
    assert bearer(api, token).get("/api/v1/chips/").status_code == 200


def test_digest_is_keyed(settings):
    a = token_digest("crg_same")
    settings.TOKEN_HASH_KEY = "another key"
    assert token_digest("crg_same") != a


def test_revoked_token_is_refused(api, parties):
    user = parties.users["op_a_member"]
    row, token = APIToken.issue(user)
    client = bearer(api, token)
    assert client.get("/api/v1/chips/").status_code == 200
    assert client.delete(f"/api/v1/tokens/{row.pk}/").status_code == 204
    response = client.get("/api/v1/chips/")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    row.refresh_from_db()
    assert row.revoked_at is not None  # kept, for the record


def test_expired_token_is_refused(api, parties):
    _row, token = APIToken.issue(parties.users["op_a_member"], expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(api, token).get("/api/v1/chips/").status_code == 401


def test_expiry_must_be_in_the_future(api, parties):
    response = api(parties.users["op_a_member"]).post("/api/v1/tokens/", {"expires_at": "2001-01-01T00:00:00Z"})
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_last_used_is_recorded(api, parties):
    row, token = APIToken.issue(parties.users["op_a_member"])
    assert row.last_used_at is None
    bearer(api, token).get("/api/v1/chips/")
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer crg_nonsense", "Bearer \u00e9t\u00e9"])
def test_bad_authorization_headers(api, header, db):
    client = api()
    client.client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/chips/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_inactive_user_token_is_refused(api, parties):
    user = parties.users["op_a_member"]
    _, token = APIToken.issue(user)
    user.is_active = False
    user.save()
    assert bearer(api, token).get("/api/v1/chips/").status_code == 401


def test_org_admin_can_revoke_a_members_token(api, parties):
    row, _ = APIToken.issue(parties.users["op_a_member"])
    assert api(parties.users["op_a_admin"]).post(f"/api/v1/tokens/{row.pk}/revoke/").status_code == 200
    row.refresh_from_db()
    assert row.revoked_at is not None


def test_token_lookup_loads_what_the_orm_loads(parties):
    """The hand-written authentication query gives the same token, user and organisation as the ORM."""
    from registry.authentication import token_by_digest

    user = parties.users["op_a_member"]
    user.organisation.jurisdictions = ["US", "CA"]
    user.organisation.save()
    row, plaintext = APIToken.issue(user, name="agent")
    token = token_by_digest(token_digest(plaintext))
    orm = APIToken.objects.select_related("user", "user__organisation").get(pk=row.pk)

    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}

    assert fields(token) == fields(orm)
    assert fields(token.user) == fields(orm.user)
    assert fields(token.user.organisation) == fields(orm.user.organisation)
    assert token.user.organisation.jurisdictions == ["US", "CA"]
    assert token_by_digest(token_digest("crg_nothing")) is None


def test_token_of_a_user_without_organisation(db):
    from registry.authentication import token_by_digest
    from registry.models import User

    user = User.objects.create(username="loner")
    _, plaintext = APIToken.issue(user)
    token = token_by_digest(token_digest(plaintext))
    assert token.user == user and token.user.organisation is None
