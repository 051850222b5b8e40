"""ATTESTATION.md, exercised by an outside client written from the spec text (tests/api/spec_client.py)."""

import base64
import hashlib
import json
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from tests.api import spec_client as sc
from tests.api.spec_world import now, problem, ts

pytestmark = pytest.mark.django_db


def sign_raw(world, body: bytes, *keys, payload_type=sc.STATEMENT_TYPE):
    """An envelope over exactly `body`, signed by `keys`."""
    return sc.envelope(None, *(keys or (world.key_a,)), body=body, payload_type=payload_type)


# --- section 1: keys ---------------------------------------------------------


@pytest.mark.parametrize(
    "make, algorithm",
    [
        (ed25519.Ed25519PrivateKey.generate, "ed25519"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "p256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "p384"),
    ],
)
def test_every_listed_algorithm_signs_an_accepted_statement(spec_world, make, algorithm):
    key = make()
    registered = spec_world.register_key(spec_world.op_a, key)
    assert registered["keyid"] == hashlib.sha256(sc.spki_der(key.public_key())).hexdigest()
    response, env = spec_world.submit(spec_world.location(), key)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "kind", "statement_sha256", "log_index", "chips", "flags"}
    assert body["kind"] == "location"
    payload = base64.b64decode(env["payload"])
    assert body["statement_sha256"] == hashlib.sha256(sc.pae(sc.STATEMENT_TYPE, payload)).hexdigest()
    assert body["statement_sha256"] == sc.statement_sha256(env)
    assert isinstance(body["log_index"], int) and body["chips"] == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP521R1()),
        lambda: ec.generate_private_key(ec.SECP256K1()),
        ed448.Ed448PrivateKey.generate,
    ],
    ids=["rsa", "p521", "secp256k1", "ed448"],
)
def test_other_key_types_are_unsupported_key(spec_world, make):
    pem = (
        make()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    problem(spec_world.op_a.post("/api/v1/keys/", {"public_key": pem}), 400, "unsupported_key")


# --- section 2: envelope ----------------------------------------------------


def test_url_safe_unpadded_base64_is_accepted(spec_world):
    # A payload and a signature whose base64 carries '+' or '/' (so '-' and '_' in the URL-safe form).
    for _ in range(50):
        st = spec_world.location()
        body = sc.jcs(st)
        sig = sc.sign(spec_world.key_a, sc.pae(sc.STATEMENT_TYPE, body))
        if set("+/") & set(sc.b64(body) + sc.b64(sig)) and len(body) % 3:
            break
    env = {
        "payloadType": sc.STATEMENT_TYPE,
        "payload": sc.b64url_nopad(body),
        "signatures": [{"keyid": sc.keyid(spec_world.key_a), "sig": sc.b64url_nopad(sig)}],
    }
    response = spec_world.post(spec_world.op_a, env)
    assert response.status_code == 201, response.content
    assert response.json()["statement_sha256"] == hashlib.sha256(sc.pae(sc.STATEMENT_TYPE, body)).hexdigest()


def test_payload_bytes_are_verified_as_sent_not_reserialised(spec_world):
    st = spec_world.location()
    body = json.dumps(st, indent=3, ensure_ascii=True).encode()  # valid JSON, not JCS
    assert body != sc.jcs(st)
    env = sign_raw(spec_world, body)
    response = spec_world.post(spec_world.op_a, env)
    assert response.status_code == 201, response.content
    assert response.json()["statement_sha256"] == hashlib.sha256(sc.pae(sc.STATEMENT_TYPE, body)).hexdigest()


def test_pae_length_is_in_bytes_not_characters(spec_world):
    # A non-ASCII character makes the byte length differ from the character length; the signature over the
    # PAE with the byte length verifies (the statement is then judged on its content, not its signature).
    st = spec_world.location(facility="US-VA-\u00e9")
    response, _ = spec_world.submit(st)
    assert response.json()["code"] != "bad_signature", response.content


def test_check_order_envelope_before_payload_type(spec_world):
    env = sign_raw(spec_world, b"{}", payload_type="text/plain")
    env["payload"] = "!!!not base64!!!"
    problem(spec_world.post(spec_world.op_a, env), 400, "malformed_envelope")


def test_check_order_payload_type_before_keys(spec_world):
    stranger = ed25519.Ed25519PrivateKey.generate()
    env = sign_raw(spec_world, b"not json", stranger, payload_type="application/json")
    problem(spec_world.post(spec_world.op_a, env), 400, "unsupported_payload_type")


def test_signatures_before_the_statement_is_parsed(spec_world):
    stranger = ed25519.Ed25519PrivateKey.generate()
    problem(spec_world.post(spec_world.op_a, sign_raw(spec_world, b"not json", stranger)), 403, "unknown_key")
    env = sign_raw(spec_world, b"not json")
    env["signatures"][0]["sig"] = sc.b64(bytes(64))
    problem(spec_world.post(spec_world.op_a, env), 403, "bad_signature")
    # Correctly signed, the same bytes are a malformed statement.
    problem(spec_world.post(spec_world.op_a, sign_raw(spec_world, b"not json")), 400, "malformed_statement")


def test_one_bad_signature_rejects_the_envelope(spec_world):
    extra = ec.generate_private_key(ec.SECP384R1())
    spec_world.register_key(spec_world.op_a, extra)
    env = sc.envelope(spec_world.location(), spec_world.key_a, extra)
    env["signatures"][1]["sig"] = sc.b64(sc.sign(extra, b"something else"))
    problem(spec_world.post(spec_world.op_a, env), 403, "bad_signature")


def test_keyid_is_only_a_hint_but_must_name_a_registered_key(spec_world):
    env = sc.envelope(spec_world.location(), spec_world.key_a)
    env["signatures"][0]["keyid"] = "00" * 32
    problem(spec_world.post(spec_world.op_a, env), 403, "unknown_key")


def test_another_organisations_key_alone_is_key_not_authorized(spec_world):
    response, _ = spec_world.submit(spec_world.location(), spec_world.key_b)
    problem(response, 403, "key_not_authorized")


def test_a_speaker_key_with_another_valid_key_is_accepted(spec_world):
    response, _ = spec_world.submit(spec_world.location(), spec_world.key_a, spec_world.key_b)
    assert response.status_code == 201, response.content


def test_malformed_statement_before_key_and_facility_checks(spec_world):
    st = spec_world.location(facility="DE-FRA-001", surprise=1)
    problem(spec_world.submit(st, spec_world.key_b)[0], 400, "malformed_statement")


def test_facility_not_operated_says_the_same_for_anothers_and_for_none(spec_world):
    theirs = problem(spec_world.submit(spec_world.location(facility="DE-FRA-001"))[0], 403, "facility_not_operated")
    none = problem(spec_world.submit(spec_world.location(facility="XX-NOPE-001"))[0], 403, "facility_not_operated")
    strip = lambda b: {k: v for k, v in b.items() if k not in ("instance", "facility")}  # noqa: E731
    assert strip(theirs) == strip(none) or (
        theirs["detail"].replace("DE-FRA-001", "X") == none["detail"].replace("XX-NOPE-001", "X")
    )


def test_key_not_valid_at_issued_at_is_revoked_key(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_world.register_key(spec_world.op_a, key)  # valid from now
    st = spec_world.location(issued=now() - timedelta(hours=1))
    problem(spec_world.submit(st, key)[0], 403, "revoked_key")


def test_revoked_since_t_rejects_statements_at_or_after_t(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_world.register_key_back_dated(spec_world.op_a, key, days=2)
    since = now() - timedelta(hours=1)
    assert spec_world.op_a.post(f"/api/v1/keys/{sc.keyid(key)}/revoke/", {"since": ts(since)}).status_code == 200
    problem(spec_world.submit(spec_world.location(issued=since), key)[0], 403, "revoked_key")
    # Issued before T but received after it: a compromised key could date anything back, so it signs nothing
    # the registry receives from then on (check 5: valid at issued_at and when the registry received it).
    problem(spec_world.submit(spec_world.location(issued=since - timedelta(minutes=5)), key)[0], 403, "revoked_key")


def test_retired_key_signs_nothing_new(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_world.register_key_back_dated(spec_world.op_a, key, days=2)
    at = now() - timedelta(minutes=30)
    assert spec_world.op_a.post(f"/api/v1/keys/{sc.keyid(key)}/retire/", {"at": ts(at)}).status_code == 200
    problem(spec_world.submit(spec_world.location(issued=now()), key)[0], 403, "revoked_key")
    problem(spec_world.submit(spec_world.location(issued=at - timedelta(minutes=1)), key)[0], 403, "revoked_key")


def test_freshness(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_world.register_key_back_dated(spec_world.op_a, key, days=10)
    st = spec_world.location(issued=now() - timedelta(days=7, minutes=5))
    problem(spec_world.submit(st, key)[0], 400, "stale_statement")
    response, _ = spec_world.submit(spec_world.location(issued=now() - timedelta(days=6, hours=23)), key)
    assert response.status_code == 201, response.content
    problem(spec_world.submit(spec_world.location(issued=now() + timedelta(minutes=6)))[0], 400, "future_statement")
    response, _ = spec_world.submit(spec_world.location(issued=now() + timedelta(minutes=4)))
    assert response.status_code == 201, response.content


def test_replay_answers_409_with_the_first_id_and_stores_nothing(spec_world):
    from attestations.models import Attestation

    st = spec_world.location()
    first, env = spec_world.submit(st)
    assert first.status_code == 201, first.content
    count = Attestation.objects.count()
    again = problem(spec_world.post(spec_world.op_a, env), 409, "replayed_nonce")
    assert again["first_id"] == first.json()["id"]
    assert Attestation.objects.count() == count
    # Another statement with the same (keyid, nonce) too.
    other = dict(st, chips=[{"chip": "nvidia:A000001"}])
    problem(spec_world.submit(other)[0], 409, "replayed_nonce")


def test_authentication_and_delivery(spec_world):
    env = sc.envelope(spec_world.location(), spec_world.key_a)
    problem(spec_world.post(spec_world.anonymous, env), 401, "not_authenticated")
    problem(spec_world.post(spec_world.op_b, env), 403, "forbidden")


# --- section 3: statements ------------------------------------------------------


def raw_statement(world, text: str):
    return world.post(world.op_a, sign_raw(world, text.encode()))


def test_duplicate_members_nan_and_infinity_are_malformed(spec_world):
    good = sc.jcs(spec_world.location()).decode()
    assert raw_statement(spec_world, good).status_code == 201
    top = good[:-1] + ',"scope":"partial"}'
    nested = good.replace('{"chip":"nvidia:A000000"}', '{"chip":"nvidia:A000000","chip":"nvidia:A000000"}')
    for text in (top, nested):
        problem(raw_statement(spec_world, text), 400, "malformed_statement")
    text = sc.jcs(spec_world.usage()).decode()
    for bad in ("NaN", "Infinity", "-Infinity", "1e400"):
        bad_text = text.replace('"utilization":0.5', f'"utilization":{bad}')
        problem(raw_statement(spec_world, bad_text), 400, "malformed_statement")


def test_unknown_members_are_malformed_anywhere(spec_world):
    problem(spec_world.submit(spec_world.location(extra="x"))[0], 400, "malformed_statement")
    chips = [{"chip": "nvidia:A000000", "note": "x"}]
    problem(spec_world.submit(spec_world.location(chips=chips))[0], 400, "malformed_statement")


@pytest.mark.parametrize(
    "value, ok",
    [
        ("{}Z", True),
        ("{}.123456Z", True),
        ("{}.5Z", True),
        ("{}+00:00", False),
        ("{}-05:00", False),
        ("{}", False),
    ],
)
def test_timestamps_are_utc_with_z(spec_world, value, ok):
    issued = now()
    st = spec_world.location(issued=issued)
    st["issued_at"] = value.format(issued.strftime("%Y-%m-%dT%H:%M:%S"))
    response, _ = spec_world.submit(st)
    if ok:
        assert response.status_code == 201, response.content
    else:
        problem(response, 400, "malformed_statement")


@pytest.mark.parametrize(
    "v",
    [2, 0, "1", True, None],
)
def test_v_is_the_number_1(spec_world, v):
    problem(spec_world.submit(spec_world.location(v=v))[0], 400, "malformed_statement")


@pytest.mark.parametrize(
    "nonce, ok",
    [
        ("a" * 32, True),
        ("b" * 33, True),
        ("c" * 64, True),
        ("d" * 31, False),
        ("e" * 65, False),
        ("A" * 32, False),
        ("g" * 32, False),
    ],
)
def test_nonce_is_32_to_64_lowercase_hex(spec_world, nonce, ok):
    st = spec_world.location(nonce=nonce)
    response, _ = spec_world.submit(st)
    if ok:
        assert response.status_code == 201, response.content
    else:
        problem(response, 400, "malformed_statement")


@pytest.mark.parametrize(
    "chip, ok",
    [
        ("nvidia:A000000", True),
        ("nvidia:ABC", True),
        ("nvidia:" + "X" * 64, True),
        ("nvidia:A.B_C-D", True),
        ("nvidia:AB", False),
        ("nvidia:" + "X" * 65, False),
        ("nvidia:AB/C", False),
        ("nvidia:AB C", False),
        ("NVIDIA:A000000", False),
        ("nvidia:a000000", False),
        ("nvidiaA000000", False),
    ],
)
def test_chip_ids(spec_world, chip, ok):
    response, _ = spec_world.submit(spec_world.location(chips=[chip]))
    if ok:
        assert response.status_code == 201, response.content
    else:
        problem(response, 400, "malformed_statement")


def test_location_rules(spec_world):
    issued = now()
    problem(
        spec_world.submit(spec_world.location(issued=issued, observed_at=ts(issued + timedelta(seconds=1))))[0],
        400,
        "malformed_statement",
    )
    problem(spec_world.submit(spec_world.location(scope="most"))[0], 400, "malformed_statement")
    problem(
        spec_world.submit(spec_world.location(chips=["nvidia:A000000", "nvidia:A000000"]))[0],
        400,
        "malformed_statement",
    )
    placed = spec_world.location(chips=["nvidia:A000000", "nvidia:A000001", "nvidia:A000002"])
    assert spec_world.submit(placed)[0].status_code == 201
    clustered = spec_world.location(chips=[{"chip": "nvidia:A000000", "cluster": "c-east-1"}], scope="complete")
    response, _ = spec_world.submit(clustered)
    assert response.status_code == 201, response.content
    # A complete statement that leaves out chips of the facility: they are unaccounted for (findings), no refusal.
    findings = spec_world.op_a.get("/api/v1/findings/?limit=100").json()["results"]
    assert {(f["kind"], f["chip"]) for f in findings} == {
        ("unaccounted", "nvidia:A000001"),
        ("unaccounted", "nvidia:A000002"),
    }
    # A chip that is not registered is a finding too.
    response, _ = spec_world.submit(spec_world.location(chips=["nvidia:ZZZ999"]))
    assert response.status_code == 201 and response.json()["flags"], response.json()


def test_a_complete_statements_answer_flags_the_chips_it_leaves_unaccounted(spec_world):
    """ATTESTATION.md 3.1: a registered chip of the facility missing from a `complete` statement is unaccounted
    for; section 5: facts that conflict with the registry are findings, "each raises a flag"; section 6: the
    201 carries `flags`. The answer said `{}` while the registry stored an `unaccounted` finding per chip left
    out, so a signer read a clean balance from it; it flags a rival's chip listed there as `other_operator` only."""
    placed = spec_world.location(chips=["nvidia:A000000", "nvidia:A000001", "nvidia:A000002"])
    placed["observed_at"] = ts(now() - timedelta(minutes=10))
    assert spec_world.submit(placed)[0].status_code == 201
    listing = spec_world.location(
        chips=[{"chip": "nvidia:A000000", "cluster": "c-east-1"}, "nvidia:B000000", "nvidia:ZZZ999"], scope="complete"
    )
    response, _ = spec_world.submit(listing)
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"unaccounted": 2, "unknown_chip": 1, "other_operator": 1}
    stored = spec_world.op_a.get(f"/api/v1/findings/?source=attestation&source_id={response.json()['id']}").json()
    assert sorted(f["kind"] for f in stored["results"] if f["kind"] != "unexpected") == [
        "unaccounted",
        "unaccounted",
        "unknown_chip",
    ]


def usage_row(**kw):
    return {"chip": "nvidia:A000000", "active_s": 3600, "utilization": 0.5, "energy_j": 1000000, **kw}


@pytest.mark.parametrize(
    "rows, hours, ok",
    [
        ([usage_row()], 1, True),
        ([usage_row(active_s=0, utilization=0, energy_j=0)], 1, True),
        ([usage_row(active_s=3600, utilization=1, energy_j=10000 * 3600)], 1, True),
        ([usage_row(active_s=3601)], 1, False),
        ([usage_row(active_s=-1)], 1, False),
        ([usage_row(utilization=1.01)], 1, False),
        ([usage_row(utilization=-0.1)], 1, False),
        ([usage_row(energy_j=-1)], 1, False),
        ([usage_row(energy_j=10000 * 3600 + 1)], 1, False),
        ([usage_row(active_s=True)], 1, False),
        ([usage_row(), usage_row()], 1, False),
        ([{"chip": "nvidia:A000000", "active_s": 3600, "utilization": 0.5}], 1, False),
        ([usage_row(active_s=31 * 86400)], 31 * 24, True),
    ],
)
def test_usage_rows(spec_world, rows, hours, ok):
    if hours > 24 * 7:
        key = ed25519.Ed25519PrivateKey.generate()
        spec_world.register_key_back_dated(spec_world.op_a, key, days=40)
        keys = (key,)
    else:
        keys = ()
    response, _ = spec_world.submit(spec_world.usage(rows, hours=hours), *keys)
    if ok:
        assert response.status_code == 201, response.content
    else:
        problem(response, 400, "malformed_statement")


def test_usage_periods(spec_world):
    end = now() - timedelta(minutes=1)
    too_long = spec_world.usage(hours=31 * 24 + 1)
    problem(spec_world.submit(too_long)[0], 400, "malformed_statement")
    empty = spec_world.usage(period_start=ts(end), period_end=ts(end))
    problem(spec_world.submit(empty)[0], 400, "malformed_statement")
    after = spec_world.usage(period_end=ts(now() + timedelta(minutes=1)))
    problem(spec_world.submit(after)[0], 400, "malformed_statement")
    problem(spec_world.submit(spec_world.usage(workload="gaming"))[0], 400, "malformed_statement")
    for workload in ("training", "inference", "mixed", "idle", "other"):
        assert spec_world.submit(spec_world.usage(workload=workload))[0].status_code == 201


def test_usage_naming_an_unknown_run_is_a_finding(spec_world):
    response, _ = spec_world.submit(spec_world.usage(run="run-" + "0" * 20))
    assert response.status_code == 201, response.content
    assert response.json()["flags"], response.json()


def test_kind_unknown_is_malformed(spec_world):
    problem(spec_world.submit(spec_world.location(kind="weather"))[0], 400, "malformed_statement")


# --- section 3.3: rtt ------------------------------------------------------------


@pytest.fixture
def landmark(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    spec_world.register_key(spec_world.treaty, key, purpose="landmark")
    r = spec_world.treaty.post(
        "/api/v1/landmarks/", {"code": "lm-iad", "name": "Ashburn", "latitude": 39.0, "longitude": -77.5}
    )
    assert r.status_code == 201, r.content
    return key


def rtt(**kw):
    st = {
        "v": 1,
        "kind": "rtt",
        "landmark": "lm-iad",
        "facility": "US-VA-001",
        "chip": "nvidia:A000000",
        "issued_at": ts(now()),
        "nonce": sc.nonce(),
        "measured_at": ts(now() - timedelta(minutes=1)),
        "rtt_ms": 5,
    }
    st.update(kw)
    return st


def test_rtt_statements(spec_world, landmark):
    send = lambda st, *keys: spec_world.submit(st, *(keys or (landmark,)), client=spec_world.treaty)[0]  # noqa: E731
    assert send(rtt()).status_code == 201
    assert send(rtt(rtt_ms=60000)).status_code == 201
    assert send(rtt(rtt_ms=0.5)).status_code == 201
    for bad in (0, -1, 60000.5, 60001):
        problem(send(rtt(rtt_ms=bad)), 400, "malformed_statement")
    problem(send(rtt(challenge="ab" * 32)), 400, "malformed_statement")
    problem(send(rtt(facility="XX-NOPE-001")), 400, "unknown_facility")
    problem(send(rtt(), spec_world.key_a), 403, "key_not_authorized")


# --- section 6: answers --------------------------------------------------------------


def test_payload_limit_is_at_least_64_mib_and_stated(spec_world, settings):
    env = sc.envelope(spec_world.location(), spec_world.key_a)
    env["payload"] = "A" * (((64 << 20) // 3 + 1) * 4)  # decodes to more than 64 MiB
    # Not refused for its size: judged on, and failing at, its signature.
    problem(spec_world.post(spec_world.op_a, env), 403, "bad_signature")
    settings.CHIPREG_ATTESTATION_MAX_PAYLOAD = 1 << 20
    env["payload"] = sc.b64(b" " * ((1 << 20) + 1))
    body = problem(spec_world.post(spec_world.op_a, env), 413, "payload_too_large")
    assert str(1 << 20) in body["detail"], body


def test_empty_or_missing_signatures_are_malformed_envelope(spec_world):
    env = sc.envelope(spec_world.location(), spec_world.key_a)
    for broken in (
        {**env, "signatures": []},
        {k: v for k, v in env.items() if k != "signatures"},
        {k: v for k, v in env.items() if k != "payload"},
        {**env, "signatures": [{"keyid": sc.keyid(spec_world.key_a)}]},
    ):
        problem(spec_world.post(spec_world.op_a, broken), 400, "malformed_envelope")
    problem(spec_world.post_raw(spec_world.op_a, b"[not json"), 400, "malformed_envelope")


@pytest.mark.parametrize("member", ["operator", "facility"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u0000"])
def test_text_no_code_can_hold_is_malformed_statement_not_500(spec_world, member, escape):
    # Correctly signed; an unpaired surrogate cannot be UTF-8 (nor hashed by JCS), a NUL is in no registry code.
    st = spec_world.location()
    body = sc.jcs(st).replace(f'"{st[member]}"'.encode(), f'"{st[member]}{escape}"'.encode())
    problem(spec_world.post(spec_world.op_a, sign_raw(spec_world, body)), 400, "malformed_statement")


@pytest.mark.parametrize("keyid", ["\u0000", "ab\u0000cd", "A" * 64, "zz"])
def test_a_keyid_no_key_can_have_is_unknown_key(spec_world, keyid):
    env = sc.envelope(spec_world.location(), spec_world.key_a)
    env["signatures"][0]["keyid"] = keyid
    problem(spec_world.post(spec_world.op_a, env), 403, "unknown_key")


def test_key_registration_valid_from(spec_world):
    key = ed25519.Ed25519PrivateKey.generate()
    earlier = ts(now() - timedelta(hours=1))
    problem(
        spec_world.op_a.post("/api/v1/keys/", {"public_key": sc.public_pem(key), "valid_from": earlier}),
        400,
        "backdated_key",
    )
    later = now() + timedelta(hours=1)
    registered = spec_world.register_key(spec_world.op_a, key, valid_from=ts(later))
    assert registered["algorithm"] and registered["organisation"] == "op-a"
    # Not valid yet at issued_at: revoked_key (check 5).
    problem(spec_world.submit(spec_world.location(), key)[0], 403, "revoked_key")


def test_usage_names_a_run_by_its_public_code(spec_world):
    """Section 3.2: `run` is the run's public code as runs/ lists it. A run declared now, named for work before
    it, is that run (`run_before_declaration`); another code is no run (`run_unknown`)."""
    start = now() + timedelta(hours=1)
    declared = spec_world.op_a.post(
        "/api/v1/runs/",
        {
            "model_name": "spec-model",
            "kind": "pre_training",
            "planned_flop": 1e20,
            "precision": "bf16",
            "facilities": ["US-VA-001"],
            "planned_start": ts(start),
            "planned_end": ts(start + timedelta(days=1)),
            "description": "a run an outside client names by its code",
        },
    )
    assert declared.status_code == 201, declared.content
    code = declared.json()["code"]
    assert re.fullmatch(r"run-[0-9a-f]{20}", code), code
    named = spec_world.submit(spec_world.usage(run=code))[0]
    assert named.status_code == 201 and named.json()["flags"].get("run_before_declaration") == 1, named.json()
    other = spec_world.submit(spec_world.usage(run=code[:-1] + ("1" if code[-1] == "0" else "0")))[0]
    assert other.status_code == 201 and other.json()["flags"].get("run_unknown") == 1, other.json()
