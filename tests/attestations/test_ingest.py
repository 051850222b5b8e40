"""POST /api/v1/attestations/: the spec's checks in order, every error code, storage, receipts."""

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attestations.models import Attestation, ChiplessSighting, Rejection, Sighting, StatementNonce
from inventory.models import AnyFinding, Placement
from protocol.dsse import PAYLOAD_TYPE
from registry.models import Chip
from tests.attestations import independent as ind
from tests.attestations.conftest import now, ts
from transparency.models import LogLeaf

VECTORS = Path(__file__).resolve().parents[1] / "protocol" / "vectors"


def counts():
    return (
        Attestation.objects.count(),
        Sighting.objects.count(),
        ChiplessSighting.objects.count(),
        StatementNonce.objects.count(),
        LogLeaf.objects.count(),
    )


def check_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    return response.json()


def test_accepted_statement_is_stored_whole_and_logged(world, django_capture_on_commit_callbacks):
    chips = [{"chip": "nvidia:A000000", "cluster": "c-east-1"}, {"chip": "nvidia:A000001"}]
    # The chips' last verification is folded in after the commit (attestations.verification).
    with django_capture_on_commit_callbacks(execute=True):
        response, env = world.submit(world.op_a, world.location(chips))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "location" and body["chips"] == 2 and body["flags"] == {}
    assert body["statement_sha256"] == ind.statement_sha256(env)
    att = Attestation.objects.get(pk=body["id"])
    assert json.loads(bytes(att.envelope)) == env
    assert bytes(LogLeaf.objects.get(index=body["log_index"]).leaf) == ind.attestation_leaf(env)
    assert Sighting.objects.filter(attestation=att).count() == 2
    placement = Placement.objects.get(chip__serial="A000000", valid_to__isnull=True)
    assert (placement.facility.code, placement.cluster.code, placement.source) == (
        "US-VA-001",
        "c-east-1",
        "attestation",
    )
    assert Chip.objects.get(serial="A000001").last_verified_at == att.observed_at


def test_receipt_verifies_offline_with_an_independent_implementation(world, client):
    response, env = world.submit(world.op_a, world.location(["nvidia:A000002"]))
    att_id = response.json()["id"]
    # More entries after it, so the proof is not trivial.
    for i in range(3, 8):
        world.submit(world.op_a, world.location([f"nvidia:A00000{i}"]))
    receipt = world.op_a.get(f"/api/v1/attestations/{att_id}/receipt/").json()
    key_line = client.get("/api/v1/log/key").content.decode()
    assert ind.verify_receipt(receipt, key_line, env)
    tampered = dict(receipt, inclusion=receipt["inclusion"][:-1])
    assert not ind.verify_receipt(tampered, key_line, env) or receipt["inclusion"] == []


@pytest.mark.parametrize("vector", ["envelope-ed25519.json", "envelope-p256.json"])
def test_spec_vectors_are_accepted(api, parties, vector, settings):
    """The spec's envelopes verify and produce the spec's statement hash and log leaf."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key  # noqa: F401

    from registry.models import Organisation

    data = json.loads((VECTORS / vector).read_text())
    settings.CHIPREG_FRESHNESS_MAX_AGE_S = 10 * 365 * 24 * 3600  # the vectors are dated
    op = Organisation.objects.create(code="op-demo", name="Demo", kind="operator", country="US")
    from tests.factories import UserFactory

    user = UserFactory(organisation=op, role="admin")
    client = api(user)
    assert (
        client.post(
            "/api/v1/facilities/",
            {"code": "US-VA-001", "name": "x", "country": "US", "latitude": 38.9, "longitude": -77.4},
        ).status_code
        == 201
    )
    # The cluster the vectors' statement names (an undeclared one would be a finding: unknown_cluster).
    assert client.post("/api/v1/clusters/", {"code": "c-east-1", "facility": "US-VA-001"}).status_code == 201
    # The vectors are dated: their key was registered before they were signed (a key is never valid
    # before its registration, so the API would refuse this valid_from: a seed's history goes through
    # the service, as of the instant it was registered).
    from datetime import UTC, datetime

    from attestations.services import register_key

    registered = register_key(user, data["public_key_pem"], registered_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert registered.keyid == data["keyid"]
    response = client.post("/api/v1/attestations/", data["envelope"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["flags"] == {"unknown_chip": 2}  # nothing registered: findings, not refusals
    if "statement_sha256" in data:
        assert body["statement_sha256"] == data["statement_sha256"]
        leaf = bytes(LogLeaf.objects.get(index=body["log_index"]).leaf)
        assert leaf.decode() == data["log_leaf_utf8"]
        import hashlib

        assert hashlib.sha256(b"\x00" + leaf).hexdigest() == data["log_leaf_hash_hex"]


class TestErrorCodes:
    """Every code of ATTESTATION.md section 6, each provoked, nothing stored, a rejection recorded."""

    def expect(self, world, response, status, code):
        body = check_problem(response, status, code)
        rejection = Rejection.objects.order_by("-id").first()
        assert rejection is not None and rejection.code == code and rejection.status == status
        assert Attestation.objects.count() == 0
        return body

    def test_not_authenticated(self, world, api):
        response, _ = world.submit(api(), world.location(["nvidia:A000000"]))
        check_problem(response, 401, "not_authenticated")

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            b'{"payloadType": "x"}',
            b'{"payloadType": "x", "payload": "!!!", "signatures": [{"keyid": "k", "sig": "AA=="}]}',
            b'{"payloadType": "x", "payload": "AA==", "signatures": []}',
            b'{"payloadType": "x", "payload": "AA==", "signatures": [{"keyid": "k", "sig": "AA=="}], "extra": 1}',
            b'{"payloadType": "x", "payloadType": "y", "payload": "AA==", "signatures": [{"keyid": "k", "sig": "AA=="}]}',
            b"\xff\xfe",
            # The README's rules for JSON bodies (a 400 `invalid`, `malformed_json`) give way to the spec's here.
            b'{"payloadType": "\\ud800", "payload": "AA==", "signatures": [{"keyid": "k", "sig": "AA=="}]}',
            b"[" * 100_000 + b"]" * 100_000,
        ],
    )
    def test_malformed_envelope(self, world, body):
        response = world.op_a.post("/api/v1/attestations/", body, content_type="application/json")
        self.expect(world, response, 400, "malformed_envelope")

    def test_payload_too_large(self, world, settings):
        settings.CHIPREG_ATTESTATION_MAX_PAYLOAD = 100
        statement = world.location([f"nvidia:A00000{i}" for i in range(9)])
        response, _ = world.submit(world.op_a, statement)
        body = self.expect(world, response, 413, "payload_too_large")
        assert "100" in body["detail"]

    def test_body_over_the_endpoint_limit(self, world, settings):
        settings.CHIPREG_BODY_LIMITS = {"/api/v1/attestations/": 50}
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
        body = check_problem(response, 413, "payload_too_large")
        assert "at most 50 bytes" in body["detail"], body  # the body limit, as the README says

    @pytest.mark.parametrize("payload_type", ["text/plain", PAYLOAD_TYPE + "\x00"])
    def test_unsupported_payload_type(self, world, payload_type):
        # A NUL in it too: the envelope's checks, not the README's `invalid` for JSON bodies.
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]), payload_type=payload_type)
        self.expect(world, response, 400, "unsupported_payload_type")

    def test_unknown_key(self, world):
        stranger = ed25519.Ed25519PrivateKey.generate()
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]), stranger)
        self.expect(world, response, 403, "unknown_key")

    def test_bad_signature(self, world):
        env = ind.envelope(world.location(["nvidia:A000000"]), world.key_a)
        tampered = base64.b64decode(env["payload"]).replace(b"A000000", b"A000001")
        env["payload"] = base64.b64encode(tampered).decode()
        self.expect(world, world.op_a.post("/api/v1/attestations/", env), 403, "bad_signature")

    def test_one_bad_signature_rejects_the_whole_envelope(self, world):
        second = ed25519.Ed25519PrivateKey.generate()
        world.register(world.op_a, second)
        env = ind.envelope(world.location(["nvidia:A000000"]), world.key_a, second)
        env["signatures"][1]["sig"] = env["signatures"][0]["sig"]
        self.expect(world, world.op_a.post("/api/v1/attestations/", env), 403, "bad_signature")

    @pytest.mark.parametrize(
        "mutate",
        [
            lambda s: s.update(v=2),
            lambda s: s.update(kind="teleport"),
            lambda s: s.update(nonce="XYZ"),
            lambda s: s.update(issued_at="2026-11-26 06:00:00"),
            lambda s: s.update(scope="most"),
            lambda s: s.update(colour="red"),
            lambda s: s.update(chips=[{"chip": "nvidia:A000000"}, {"chip": "nvidia:A000000"}]),
            lambda s: s.update(chips=[{"chip": "NVIDIA:lowercase"}]),
            lambda s: s.pop("operator"),
        ],
    )
    def test_malformed_statement(self, world, mutate):
        statement = world.location(["nvidia:A000000"])
        mutate(statement)
        response, _ = world.submit(world.op_a, statement)
        self.expect(world, response, 400, "malformed_statement")

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"v":1,"v":1}',
            b'{"v": NaN}',
            b'{"v": 1e999}',
            b"\xff",
            b"[1]",
            b"[" * 50_000 + b"]" * 50_000,  # deeper than Python's parser recurses
            b'{"facility": "US-VA-001", "operator": "op-a", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            b'{"facility": "US-VA-001", "operator": "op-a", "kind": "location"}',  # read ahead, then refused
        ],
    )
    def test_malformed_statement_bytes(self, world, raw):
        response, _ = world.submit(world.op_a, None, body=raw)
        self.expect(world, response, 400, "malformed_statement")

    def test_unknown_facility(self, world):
        # To an operator, a facility nobody registered is one it does not operate (ATTESTATION.md 2, check 5).
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], facility="NOWHERE-1"))
        self.expect(world, response, 403, "facility_not_operated")

    def test_revoked_key(self, world):
        since = now() - timedelta(hours=1)
        keyid = ind.keyid(world.key_a)
        assert world.op_a.post(f"/api/v1/keys/{keyid}/revoke/", {"since": ts(since)}).status_code == 200
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
        self.expect(world, response, 403, "revoked_key")

    def test_retired_key(self, world):
        keyid = ind.keyid(world.key_a)
        assert (
            world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {"at": ts(now() - timedelta(minutes=5))}).status_code
            == 200
        )
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
        self.expect(world, response, 403, "revoked_key")

    def test_key_not_authorized(self, world):
        # op-b's valid key signs a statement in which op-a speaks.
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]), world.key_b)
        self.expect(world, response, 403, "key_not_authorized")

    def test_forbidden(self, world):
        # A correctly signed op-a statement delivered with op-b's token.
        response, _ = world.submit(world.op_b, world.location(["nvidia:A000000"]))
        self.expect(world, response, 403, "forbidden")

    def test_stale_statement(self, world):
        old = now() - timedelta(days=8)
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], issued=old))
        self.expect(world, response, 400, "stale_statement")

    def test_future_statement(self, world):
        ahead = now() + timedelta(minutes=10)
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"], issued=ahead, observed=now()))
        self.expect(world, response, 400, "future_statement")

    def test_replayed_nonce(self, world):
        env = ind.envelope(world.location(["nvidia:A000000"]), world.key_a)
        first = world.op_a.post("/api/v1/attestations/", env)
        assert first.status_code == 201
        before = counts()
        again = world.op_a.post("/api/v1/attestations/", env)
        body = check_problem(again, 409, "replayed_nonce")
        assert body["first_id"] == first.json()["id"]
        assert counts() == before
        # Another statement reusing the nonce with the same key is a replay too.
        statement = world.location(["nvidia:A000001"])
        statement["nonce"] = json.loads(base64.b64decode(env["payload"]))["nonce"]
        response, _ = world.submit(world.op_a, statement)
        assert check_problem(response, 409, "replayed_nonce")["first_id"] == first.json()["id"]

    def test_wrong_content_type(self, world):
        response = world.op_a.post("/api/v1/attestations/", "x", content_type="text/plain")
        check_problem(response, 415, "unsupported_media_type")

    @pytest.mark.parametrize(
        "make",
        [
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            lambda: ec.generate_private_key(ec.SECP521R1()),
            lambda: ec.generate_private_key(ec.SECP256K1()),
        ],
    )
    def test_unsupported_key(self, world, make):
        response = world.op_a.post("/api/v1/keys/", {"public_key": ind.public_pem(make())})
        check_problem(response, 400, "unsupported_key")

    def test_garbage_key(self, world):
        check_problem(world.op_a.post("/api/v1/keys/", {"public_key": "-----BEGIN nonsense"}), 400, "unsupported_key")


def test_check_order_signature_before_statement(world):
    """Nothing is parsed as a statement before the signatures pass: a bad signature on garbage is bad_signature."""
    env = ind.envelope(None, world.key_a, body=b"garbage that is not json")
    env["signatures"][0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    check_problem(world.op_a.post("/api/v1/attestations/", env), 403, "bad_signature")


def test_p384_and_multiple_signatures(world):
    p384 = ec.generate_private_key(ec.SECP384R1())
    world.register(world.op_a, p384)
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000003"]), world.key_a, p384)
    assert response.status_code == 201, response.content
    assert len(Attestation.objects.get().keyids) == 2


def test_revocation_flags_statements_already_accepted_from_t(world):
    early = world.location(["nvidia:A000000"], issued=now() - timedelta(hours=3))
    late = world.location(["nvidia:A000001"], issued=now() - timedelta(hours=1))
    early_id = world.submit(world.op_a, early)[0].json()["id"]
    late_id = world.submit(world.op_a, late)[0].json()["id"]
    # The early one was received when it was signed, before the compromise: one received after it is
    # flagged whatever its date (test_authority), since whoever held the key then could have backdated it.
    Attestation.objects.filter(pk=early_id).update(received_at=now() - timedelta(hours=3))
    keyid = ind.keyid(world.key_a)
    response = world.op_a.post(f"/api/v1/keys/{keyid}/revoke/", {"since": ts(now() - timedelta(hours=2))})
    assert response.status_code == 200 and response.json()["flagged_statements"] == 1
    assert not Attestation.objects.get(pk=early_id).flagged
    assert Attestation.objects.get(pk=late_id).flagged
    from inventory.models import AnyFinding

    finding = AnyFinding.objects.get(kind="revoked_key")
    assert finding.source_id == str(late_id) and finding.evidence["log_index"] is not None
    from transparency.models import LogEventData

    assert LogEventData.objects.filter(event="key.revoked", object_id=keyid).exists()


def test_key_events_are_logged(world):
    from transparency.models import LogEventData

    keyid = ind.keyid(world.key_a)
    assert LogEventData.objects.filter(event="key.registered", object_id=keyid).exists()
    # Not at an instant before the key was valid (a record contradicting itself), nothing logged.
    early = world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {"at": "2000-01-01T00:00:00Z"})
    assert (early.status_code, early.json()["code"]) == (400, "invalid"), early.content
    assert not LogEventData.objects.filter(event="key.retired", object_id=keyid).exists()
    world.op_a.post(f"/api/v1/keys/{keyid}/retire/", {})
    assert LogEventData.objects.filter(event="key.retired", object_id=keyid).exists()
    # Another operator can neither retire nor revoke it.
    assert world.op_b.post(f"/api/v1/keys/{keyid}/retire/", {}).status_code in (403, 404)
    # Nor does an operator register a landmark key (the treaty body's): told so in words.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    landmark = world.op_a.post("/api/v1/keys/", {"public_key": pem, "purpose": "landmark"})
    assert landmark.status_code == 403 and landmark.json()["detail"] == "An operator may not register landmark keys."


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_envelopes_never_500_and_leave_nothing(world, body):
    before = counts()
    response = world.op_a.post("/api/v1/attestations/", body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert counts() == before


statement_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.dictionaries(st.sampled_from(["chip", "cluster", "x"]), st.text(max_size=20), max_size=3), max_size=3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["v", "kind", "issued_at", "nonce", "observed_at", "scope", "chips", "operator"]),
    value=statement_values,
)
def test_fuzzed_signed_statements_never_500(world, field, value):
    """Correctly signed statements with a field replaced by anything: a 4xx or an acceptance, never a 500."""
    statement = world.location(["nvidia:A000000"])
    statement[field] = value
    before = counts()
    response, _ = world.submit(world.op_a, statement)
    assert response.status_code < 500
    if response.status_code != 201:
        assert counts() == before


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=200))
def test_truncated_bodies(world, cut):
    env = json.dumps(ind.envelope(world.location(["nvidia:A000000"]), world.key_a)).encode()
    before = counts()
    response = world.op_a.post("/api/v1/attestations/", env[: max(0, len(env) - cut)], content_type="application/json")
    assert 400 <= response.status_code < 500
    assert counts() == before


def test_the_same_statement_under_another_signature_is_a_replay(world):
    """Same statement bytes, signed by another key of the operator: the (keyid, nonce) pair is new, the
    statement is not; it is refused as a replay of the first, with nothing of it left behind."""
    key2 = ed25519.Ed25519PrivateKey.generate()
    world.register(world.op_a, key2)
    statement = world.location(["nvidia:A000002", "nvidia:A000003"])
    first, _ = world.submit(world.op_a, statement)
    assert first.status_code == 201, first.content
    before = counts()
    again, _ = world.submit(world.op_a, statement, key2)
    body = check_problem(again, 409, "replayed_nonce")
    assert body["first_id"] == first.json()["id"]
    assert counts() == before


@pytest.mark.django_db(transaction=True)
def test_same_envelope_from_8_concurrent_clients_is_accepted_once(api, parties):
    import threading

    from django.db import connections
    from rest_framework.test import APIClient

    from tests.attestations.conftest import World

    world = World(api, parties)
    env = ind.envelope(world.location(["nvidia:A000000", "nvidia:A000001"]), world.key_a)
    token = world.op_a.token
    barrier = threading.Barrier(8)
    results = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait()
            response = client.post("/api/v1/attestations/", env, format="json")
            results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(code for code, _ in results)
    assert statuses == [201] + [409] * 7, results
    first = next(body["id"] for code, body in results if code == 201)
    assert all(body["first_id"] == first for code, body in results if code == 409)
    assert Attestation.objects.count() == 1 and Sighting.objects.count() == 2


def test_large_location_statement_uses_set_based_writes(world, django_assert_max_num_queries):
    """20,000 chips in one statement: a bounded number of statements, no save per chip."""
    from registry.registration import register_chips
    from tests.factories import chip_rows

    register_chips(chip_rows("BULK", 20_000), world.p.users["op_a_admin"])
    statement = world.location([f"nvidia:BULK{i:06d}" for i in range(20_000)])
    env = ind.envelope(statement, world.key_a)
    with django_assert_max_num_queries(80):
        response = world.op_a.post("/api/v1/attestations/", env)
    assert response.status_code == 201, response.content
    assert Sighting.objects.count() == 20_000
    assert Placement.objects.filter(source="attestation").count() == 20_000


def test_garbage_with_nul_and_surrogates_is_a_clean_rejection(world):
    """Found by schemathesis: member names echoed into the rejection's detail."""
    body = b'{"payloadType": "x", "payload": "", "signatures": [], "\\u0000\\ud930": 1}'
    response = world.op_a.post("/api/v1/attestations/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "malformed_envelope"
    assert Rejection.objects.get().code == "malformed_envelope"


def test_a_small_statement_refreshes_last_verification_in_the_request(world):
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000006"]))
    assert response.status_code == 201
    att = Attestation.objects.get(pk=response.json()["id"])
    assert Chip.objects.get(serial="A000006").last_verified_at == att.observed_at  # no commit needed


def test_node_agent_statements_move_last_verification_once_a_resolution_has_passed(world, settings):
    """Re-attesting every few seconds rewrites the chip row (and its indexes) at most once a resolution."""
    settings.CHIPREG_VERIFICATION_RESOLUTION_S = 60
    first = now() - timedelta(minutes=10)
    for observed, expected in (
        (first, first),
        (first + timedelta(seconds=30), first),  # within the resolution: left as it is
        (first + timedelta(seconds=90), first + timedelta(seconds=90)),
        (first - timedelta(minutes=5), first + timedelta(seconds=90)),  # an older statement never moves it back
    ):
        statement = world.location(["nvidia:A000007"], observed=observed, issued=max(observed, first))
        response, _ = world.submit(world.op_a, statement)
        assert response.status_code == 201, response.content
        assert Chip.objects.get(serial="A000007").last_verified_at == expected


def test_a_node_agents_older_statement_never_moves_a_chip_back(world):
    """Placed in California from an hour ago, a statement about five hours ago in Virginia leaves it there."""
    from inventory.models import Placement

    recent, older = now() - timedelta(hours=1), now() - timedelta(hours=5)
    placed, _ = world.submit(world.op_a, world.location(["nvidia:A000009"], facility="US-CA-001", observed=recent))
    late, _ = world.submit(world.op_a, world.location(["nvidia:A000009"], observed=older, issued=recent))
    assert placed.status_code == late.status_code == 201, late.content
    [open_row] = Placement.objects.filter(chip__serial="A000009", valid_to__isnull=True)
    assert (open_row.facility.code, open_row.valid_from) == ("US-CA-001", recent)
    assert Placement.objects.filter(chip__serial="A000009").count() == 1


def test_last_verification_is_folded_after_the_commit_and_never_moves_back(world, monkeypatch):
    from attestations.kinds import location
    from attestations.verification import fold_statement

    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 0)  # as for a big statement

    now = timezone.now().replace(microsecond=0)
    later, _ = world.submit(world.op_a, world.location(["nvidia:A000008"], observed=now - timedelta(minutes=2)))
    earlier, _ = world.submit(world.op_a, world.location(["nvidia:A000008"], observed=now - timedelta(hours=3)))
    assert later.status_code == earlier.status_code == 201
    chip = Chip.objects.get(serial="A000008")
    assert chip.last_verified_at is None  # inside the test transaction no commit ran: nothing folded yet
    assert fold_statement(later.json()["id"]) == 1
    assert fold_statement(earlier.json()["id"]) == 0  # an older sighting never moves the time back
    chip.refresh_from_db()
    assert chip.last_verified_at == now - timedelta(minutes=2)


def test_the_silence_sweep_counts_sightings_not_yet_folded(world, monkeypatch):
    from attestations.kinds import location
    from inventory.services.continuity import find_silent_chips

    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 0)  # as for a big statement

    Chip.objects.filter(serial__in=["A000009", "A000007"]).update(created_at=timezone.now() - timedelta(days=30))
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000009"]))
    assert response.status_code == 201
    assert Chip.objects.get(serial="A000009").last_verified_at is None  # not folded (no commit in the test)
    find_silent_chips()
    silent = set(AnyFinding.objects.filter(kind="silent_chip").values_list("chip_ref", flat=True))
    assert "nvidia:A000007" in silent and "nvidia:A000009" not in silent
    assert Chip.objects.get(serial="A000009").last_verified_at is not None  # the sweep folded it first


def test_a_statement_is_stored_with_the_cyclic_collector_off_and_after_it_on(world):
    """Every write of a statement's storage runs with the collector off (core.collector); after the answer
    (and after a refusal) the collector is on."""
    import gc

    from django.db import connection

    seen = []

    def record(execute, sql, params, many, context):
        seen.append((gc.isenabled(), sql.split(None, 1)[0].upper()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response, _ = world.submit(world.op_a, world.location(["nvidia:A000000"]))
    assert response.status_code == 201, response.content
    writes = [enabled for enabled, verb in seen if verb in ("WITH", "INSERT", "UPDATE")]
    assert writes and not any(writes)
    assert gc.isenabled()
    with connection.execute_wrapper(record):
        refused, _ = world.submit(world.op_b, world.location(["nvidia:A000000"]))  # op-b does not speak for op-a
    assert refused.status_code == 403
    assert gc.isenabled()


def test_a_big_statement_answers_with_its_movement_findings_and_its_chips_placed(world, monkeypatch):
    """A statement of more than FOLD_INLINE_MAX chips stores its placements and its movement findings in its
    own transaction, in log order, like a small one: its answer counts a two-places finding, and its chips
    are placed when the 201 comes (no after-commit work is run here). Only its chips' last verification is
    folded in after the commit (the sightings.recorded task)."""
    from attestations.kinds import location

    t = now() - timedelta(minutes=10)
    first, _ = world.submit(world.op_a, world.location(["nvidia:A000001"], observed=t, issued=t))
    assert first.status_code == 201, first.content
    monkeypatch.setattr(location, "FOLD_INLINE_MAX", 2)  # as for a big statement
    chips = ["nvidia:A000001", "nvidia:A000002", "nvidia:A000003"]
    response, _ = world.submit(world.op_a, world.location(chips, facility="US-CA-001", observed=t, issued=t))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"two_places": 1}
    placed = Placement.objects.filter(facility__code="US-CA-001", valid_to__isnull=True)
    assert set(placed.values_list("chip__serial", flat=True)) == {"A000001", "A000002", "A000003"}
    assert not Placement.objects.filter(facility__code="US-VA-001", valid_to__isnull=True).exists()
    assert Chip.objects.get(serial="A000003").last_verified_at is None  # folded after the commit


@pytest.mark.parametrize("raw", ["0100000000000000000000000000000000000000000000000000000000000000", "00" * 32])
def test_a_small_order_ed25519_key_is_not_registered(world, raw):
    """Attack: an operator registers a small-order key (the identity point, a point of order 4), under which
    forged signatures verify (tests/protocol/test_proto_verifier_fuzz.py), and later disowns its statements:
    anyone could have made their signatures."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    weak = Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw))
    pem = weak.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    check_problem(world.op_a.post("/api/v1/keys/", {"public_key": pem}), 400, "unsupported_key")
