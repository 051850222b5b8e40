from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from registry.registration import register_chips
from tests.attestations import independent as ind
from tests.factories import chip_rows


def ts(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now():
    return datetime.now(UTC).replace(microsecond=0)


class World:
    """op-a (US) with US-VA-001 and two clusters, op-b (DE) with DE-FRA-001; keys registered."""

    def __init__(self, api, parties):
        self.api, self.p = api, parties
        self.op_a = api(parties.users["op_a_admin"])
        self.op_b = api(parties.users["op_b"])
        self.treaty = api(parties.users["treaty"])
        for client, code, country, lat, lon in (
            (self.op_a, "US-VA-001", "US", 38.95, -77.45),
            (self.op_a, "US-CA-001", "US", 37.37, -121.92),
            (self.op_b, "DE-FRA-001", "DE", 50.11, 8.68),
        ):
            r = client.post(
                "/api/v1/facilities/",
                {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon},
            )
            assert r.status_code == 201, r.content
        for code in ("c-east-1", "c-east-2"):
            assert self.op_a.post("/api/v1/clusters/", {"code": code, "facility": "US-VA-001"}).status_code == 201
        register_chips(chip_rows("A", 10), parties.users["op_a_admin"])
        register_chips(chip_rows("B", 5), parties.users["op_b"])
        self.key_a = ed25519.Ed25519PrivateKey.generate()
        self.key_b = ec.generate_private_key(ec.SECP256R1())
        self.register(self.op_a, self.key_a)
        self.register(self.op_b, self.key_b)

    def register(self, client, key, purpose=None):
        """Register `key` for the client's organisation as of a month ago, so tests can send back-dated
        statements. A key is valid from its registration at the earliest (the API refuses an earlier
        valid_from), so the world's history is laid down the way the demo's is: through the service, with
        the registration's instant (logged as such)."""
        from attestations.api.serializers import SigningKeySerializer
        from attestations.services import register_key

        key = register_key(
            client.user, ind.public_pem(key), name="test", purpose=purpose, registered_at=now() - timedelta(days=30)
        )
        return SigningKeySerializer(key).data

    def location(self, chips, facility="US-VA-001", operator="op-a", scope="partial", observed=None, issued=None, **kw):
        issued = issued or now()
        return {
            "v": 1,
            "kind": "location",
            "operator": operator,
            "facility": facility,
            "issued_at": ts(issued),
            "nonce": ind.nonce(),
            "observed_at": ts(observed or issued - timedelta(minutes=1)),
            "scope": scope,
            "chips": [c if isinstance(c, dict) else {"chip": c} for c in chips],
            **kw,
        }

    def usage(self, rows, start, end, facility="US-VA-001", operator="op-a", issued=None):
        return {
            "v": 1,
            "kind": "usage",
            "operator": operator,
            "facility": facility,
            "issued_at": ts(issued or max(end, now())),
            "nonce": ind.nonce(),
            "period_start": ts(start),
            "period_end": ts(end),
            "chips": rows,
        }

    def submit(self, client, statement, *keys, **kw):
        env = ind.envelope(statement, *(keys or (self.key_a,)), **kw)
        return client.post("/api/v1/attestations/", env), env


@pytest.fixture
def world(api, parties):
    return World(api, parties)
