"""A small world for the fault tests, built through the API: one operator, three facilities, chips, a key, rules."""

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.attestations import independent as ind
from tests.factories import chip_rows

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
# Far apart, so that no two facilities form a campus.
SITES = (("F-IAD", 38.95, -77.45), ("F-SJC", 37.37, -121.92), ("F-JFK", 40.64, -73.78))


def ts(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now():
    return datetime.now(UTC).replace(microsecond=0)


class World:
    def __init__(self, api, parties, prefix, chips=8):
        from inventory.models import Facility

        self.parties = parties
        self.op = api(parties.users["op_a_admin"])
        for code, lat, lon in SITES:
            body = {"code": code, "name": code, "country": "US", "latitude": lat, "longitude": lon}
            r = self.op.post("/api/v1/facilities/", body)
            assert r.status_code == 201, r.content
        self.facilities = {f.code: f for f in Facility.objects.filter(code__in=[s[0] for s in SITES])}
        self.chips = [row["chip"] for row in chip_rows(prefix, chips)]
        r = self.op.post("/api/v1/chips/", chip_rows(prefix, chips))
        assert r.status_code == 201, r.content
        self.key = ed25519.Ed25519PrivateKey.generate()
        r = self.op.post(
            "/api/v1/keys/",
            {"public_key": ind.public_pem(self.key), "name": "faults"},
        )
        assert r.status_code == 201, r.content

    def rule(self, key, scope, value, severity="high", metric="chip_count"):
        from compliance import services

        return services.declare(
            self.parties.users["treaty"],
            key,
            name=key,
            metric=metric,
            scope=scope,
            comparison="ge",
            value=value,
            severity=severity,
            effective_from=SINCE,
        )

    def subscribe(self, receiver, min_severity="low"):
        from compliance.delivery.signing import new_secret
        from compliance.models import Subscription

        sub = Subscription.objects.create(
            organisation=self.parties.treaty,
            name="faults",
            webhook_url=receiver.url,
            secret=new_secret(),
            min_severity=min_severity,
        )
        receiver.secret = sub.secret
        return sub

    def location(self, facility, chips):
        issued = now()
        statement = {
            "v": 1,
            "kind": "location",
            "operator": self.parties.op_a.code,
            "facility": facility,
            "issued_at": ts(issued),
            "nonce": ind.nonce(),
            "observed_at": ts(issued - timedelta(minutes=1)),
            "scope": "partial",
            "chips": [{"chip": c} for c in chips],
        }
        return ind.envelope(statement, self.key)
