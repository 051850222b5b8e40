"""The rules every party is bound by and reads through the API are on the log for every party to read too:
threshold rules, destination rules and the challenge rule. Other events stay as narrow as they were."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance import exports as destination_rules
from compliance.services import declare, retire
from inventory.services import challenges
from tests.factories import OrganisationFactory, UserFactory
from transparency.models import LogEventData

pytestmark = pytest.mark.django_db


def test_rule_declarations_are_readable_by_every_party_and_nothing_else_widens(api, parties):
    treaty = parties.users["treaty"]
    rule = declare(
        treaty,
        "public-watch",
        name="Public watch",
        metric="h100e",
        scope="facility",
        comparison="gt",
        value=100,
        severity="low",
        effective_from=timezone.now() - timedelta(days=1),
    )
    retire(treaty, rule)
    destination = destination_rules.declare(
        treaty, "embargo", name="Embargo", destinations=["KP"], effective_from=timezone.now()
    )
    challenge_rule = challenges.declare_rule(treaty, [], "none yet")
    retired = LogEventData.objects.get(event="threshold.retired", object_id="threshold:public-watch").index
    indices = [rule.log_index, retired, destination.log_index, challenge_rule.log_index]
    assert None not in indices
    manufacturer = OrganisationFactory(code="maker-x", kind="manufacturer", country="TW")
    readers = [
        parties.users["op_b"],
        parties.users["op_a_member"],
        parties.users["insp_fr"],
        UserFactory(organisation=manufacturer, role="member"),
    ]
    for user in readers:
        client = api(user)
        for index in indices:
            r = client.get(f"/api/v1/log/entries/{index}")
            assert r.status_code == 200 and "data" in r.json(), (user.username, index, r.content)
    # Anonymous callers still read no event data at all.
    assert api().get(f"/api/v1/log/entries/{indices[0]}").status_code in (401, 403)
    # An event naming one operator is still that operator's (and its country's), not another's.
    register = api(parties.users["op_a_admin"]).post(
        "/api/v1/facilities/",
        {"code": "US-VA-PUB", "name": "x", "country": "US", "latitude": 38.95, "longitude": -77.45},
    )
    assert register.status_code == 201, register.content
    index = LogEventData.objects.filter(event="facility.registered").latest("index").index
    assert api(parties.users["op_b"]).get(f"/api/v1/log/entries/{index}").status_code == 403


def test_key_events_are_readable_by_every_country_a_statement_may_count_in(api, parties):
    """An operator of one country places chips in another by its statements; the other country's inspectorate
    must prove from the log which keys spoke for it, and when, as it reads the keys through the API."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from attestations.services import register_key, retire_key, revoke_key
    from tests.attestations.independent import public_pem

    def new_key_pem():
        return public_pem(Ed25519PrivateKey.generate())

    op = parties.users["op_b"]  # an operator of DE
    registered = register_key(op, new_key_pem(), name="rack 1")
    retired = register_key(op, new_key_pem(), name="rack 2")
    retire_key(op, retired)
    revoked = register_key(op, new_key_pem(), name="rack 3")
    revoke_key(op, revoked, timezone.now(), reason="host reimaged")
    indices = list(
        LogEventData.objects.filter(
            event__startswith="key.", object_id__in=[registered.keyid, retired.keyid, revoked.keyid]
        )
        .order_by("index")
        .values_list("index", flat=True)
    )
    assert len(indices) == 5
    for user in (parties.users["insp_fr"], parties.users["insp_us"], parties.users["op_a_member"]):
        client = api(user)
        for index in indices:
            r = client.get(f"/api/v1/log/entries/{index}")
            assert r.status_code == 200 and "data" in r.json(), (user.username, index, r.content)
    assert api().get(f"/api/v1/log/entries/{indices[0]}").status_code in (401, 403)
