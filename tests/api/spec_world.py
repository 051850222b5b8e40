"""Set-up for the outside-client tests: parties, facilities, chips and keys, made through the API where an
outside party would make them (the chips are registered directly, as a manufacturer's batch would be)."""

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.api import spec_client as sc

ATTESTATIONS = "/api/v1/attestations/"


def ts(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now():
    return datetime.now(UTC).replace(microsecond=0)


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    return body


class SpecWorld:
    """op-a (US) runs US-VA-001 with cluster c-east-1 and holds nvidia:A000000..9; op-b (DE) runs DE-FRA-001."""

    def __init__(self, api, parties):
        from registry.registration import register_chips
        from tests.factories import chip_rows

        self.api, self.p = api, parties
        self.op_a = api(parties.users["op_a_admin"])
        self.op_b = api(parties.users["op_b"])
        self.treaty = api(parties.users["treaty"])
        self.anonymous = api()
        for client, code, country, lat, lon in (
            (self.op_a, "US-VA-001", "US", 38.95, -77.45),
            (self.op_b, "DE-FRA-001", "DE", 50.11, 8.68),
        ):
            r = client.post(
                "/api/v1/facilities/",
                {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon},
            )
            assert r.status_code == 201, r.content
        assert self.op_a.post("/api/v1/clusters/", {"code": "c-east-1", "facility": "US-VA-001"}).status_code == 201
        register_chips(chip_rows("A", 10), parties.users["op_a_admin"])
        register_chips(chip_rows("B", 5), parties.users["op_b"])
        self.key_a = ed25519.Ed25519PrivateKey.generate()
        self.key_b = ec.generate_private_key(ec.SECP256R1())
        self.register_key(self.op_a, self.key_a)
        self.register_key(self.op_b, self.key_b)

    def register_key(self, client, key, **extra):
        r = client.post("/api/v1/keys/", {"public_key": sc.public_pem(key), **extra})
        assert r.status_code == 201, r.content
        assert r.json()["keyid"] == sc.keyid(key)
        return r.json()

    def register_key_back_dated(self, client, key, days, purpose=None):
        """A key valid since `days` ago (the API refuses a valid_from before the registration; this is
        set-up only, as the registry's history would have it)."""
        from attestations.services import register_key

        register_key(
            client.user, sc.public_pem(key), name="old", purpose=purpose, registered_at=now() - timedelta(days=days)
        )

    def location(self, chips=("nvidia:A000000",), facility="US-VA-001", operator="op-a", issued=None, **kw):
        issued = issued or now()
        st = {
            "v": 1,
            "kind": "location",
            "operator": operator,
            "facility": facility,
            "issued_at": ts(issued),
            "nonce": sc.nonce(),
            "observed_at": ts(issued - timedelta(minutes=1)),
            "scope": "partial",
            "chips": [c if isinstance(c, dict) else {"chip": c} for c in chips],
        }
        st.update(kw)
        return st

    def usage(self, rows=None, hours=1, facility="US-VA-001", operator="op-a", **kw):
        end = now() - timedelta(minutes=1)
        start = end - timedelta(hours=hours)
        st = {
            "v": 1,
            "kind": "usage",
            "operator": operator,
            "facility": facility,
            "issued_at": ts(now()),
            "nonce": sc.nonce(),
            "period_start": ts(start),
            "period_end": ts(end),
            "chips": rows
            if rows is not None
            else [{"chip": "nvidia:A000000", "active_s": 3600, "utilization": 0.5, "energy_j": 1000000}],
        }
        st.update(kw)
        return st

    def post(self, client, env):
        return client.post(ATTESTATIONS, env)

    def post_raw(self, client, body: bytes):
        return client.post(ATTESTATIONS, body, content_type="application/json")

    def submit(self, statement, *keys, client=None, **kw):
        env = sc.envelope(statement, *(keys or (self.key_a,)), **kw)
        return self.post(client or self.op_a, env), env
