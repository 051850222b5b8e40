"""DSSE envelopes and keys: check 1 (shape, base64, size), 2 (type), 3 (signatures)."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from hypothesis import given
from hypothesis import strategies as st

from protocol import dsse
from protocol.errors import ProtocolError
from tests.protocol.helpers import FAST, load_vector

LIMIT = 64 << 20
ED = load_vector("envelope-ed25519.json")
P256 = load_vector("envelope-p256.json")
ED_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ED["private_key_seed_hex"]))
ED_PUB = dsse.load_public_key(ED["public_key_pem"])
P256_PUB = dsse.load_public_key(P256["public_key_pem"])
KEYS = {ED_PUB.keyid: ED_PUB, P256_PUB.keyid: P256_PUB}


def _pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _body(env) -> bytes:
    return json.dumps(env).encode()


def _code(fn, *args):
    with pytest.raises(ProtocolError) as e:
        fn(*args)
    return e.value


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "algorithm"),
    [
        (ed25519.Ed25519PrivateKey.generate, "ed25519"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-p384"),
    ],
)
def test_sign_verify_round_trip(make, algorithm):
    key = make()
    public = dsse.load_public_key(_pem(key))
    assert public.algorithm == algorithm
    assert public.keyid == dsse.keyid_of(key) == dsse.keyid_of(key.public_key())
    assert len(public.keyid) == 64 and public.keyid == public.keyid.lower()
    sig = dsse.sign(key, b"message")
    assert public.verify(sig, b"message")
    assert not public.verify(sig, b"messagf")
    assert not public.verify(b"\x00" * len(sig), b"message")
    assert not public.verify(b"", b"message")
    envelope = dsse.make_envelope(b'{"x":1}', [(key, None)])
    parsed = dsse.parse_envelope(_body(envelope), LIMIT)
    assert dsse.verify_signatures(parsed, {public.keyid: public}.get) == [public]


def test_p384_uses_sha384():
    from cryptography.hazmat.primitives import hashes

    key = ec.generate_private_key(ec.SECP384R1())
    public = dsse.load_public_key(_pem(key))
    assert public.verify(key.sign(b"m", ec.ECDSA(hashes.SHA384())), b"m")
    assert not public.verify(key.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m")


def test_keyid_is_over_canonical_der_even_for_compressed_points():
    key = ec.generate_private_key(ec.SECP256R1())
    compressed = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    reloaded = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), compressed)
    assert dsse.public_key_from_object(reloaded).keyid == dsse.keyid_of(key)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP521R1()),
        lambda: ec.generate_private_key(ec.SECP256K1()),
        ed448.Ed448PrivateKey.generate,
        x25519.X25519PrivateKey.generate,
    ],
)
def test_other_keys_are_unsupported(make):
    key = make()
    assert _code(dsse.load_public_key, _pem(key)).code == "unsupported_key"
    assert _code(dsse.load_public_key, _pem(key).decode()).status == 400
    assert _code(dsse.sign, key, b"m").code == "unsupported_key"


@pytest.mark.parametrize(
    "garbage",
    [b"", "not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "\u00e9", 42, None],
)
def test_garbage_keys_are_unsupported(garbage):
    assert _code(dsse.load_public_key, garbage).code == "unsupported_key"


# --- envelope shape (check 1) ---------------------------------------------------------


def _env(**changes):
    env = json.loads(json.dumps(ED["envelope"]))
    env.update(changes)
    return env


@pytest.mark.parametrize(
    "env",
    [
        {"payloadType": dsse.PAYLOAD_TYPE, "payload": ED["envelope"]["payload"]},
        _env(extra=1),
        _env(payloadType=1),
        _env(payload=None),
        _env(payload="not base64!"),
        _env(payload=ED["envelope"]["payload"][:-1]),
        _env(signatures=[]),
        _env(signatures={}),
        _env(signatures=["x"]),
        _env(signatures=[{"keyid": ED["keyid"]}]),
        _env(signatures=[{"sig": ED["envelope"]["signatures"][0]["sig"]}]),
        _env(signatures=[{**ED["envelope"]["signatures"][0], "cert": "x"}]),
        _env(signatures=[{"keyid": 1, "sig": ED["envelope"]["signatures"][0]["sig"]}]),
        _env(signatures=[{"keyid": "", "sig": ED["envelope"]["signatures"][0]["sig"]}]),
        _env(signatures=[{"keyid": ED["keyid"], "sig": ""}]),
        _env(signatures=[{"keyid": ED["keyid"], "sig": "A" * 600}]),
        _env(signatures=[{"keyid": ED["keyid"], "sig": "a b"}]),
        _env(signatures=[ED["envelope"]["signatures"][0]] * 2),
        _env(signatures=[{"keyid": str(i), "sig": "AAAA"} for i in range(dsse.MAX_SIGNATURES + 1)]),
        [ED["envelope"]],
    ],
)
def test_malformed_envelopes(env):
    assert _code(dsse.parse_envelope, _body(env), LIMIT).code == "malformed_envelope"


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"\xff", b'{"payloadType":"a","payloadType":"a","payload":"","signatures":[]}', b"null"],
)
def test_malformed_envelope_bytes(body):
    assert _code(dsse.parse_envelope, body, LIMIT).code == "malformed_envelope"


def test_payload_too_large_states_the_limit():
    body = _body(ED["envelope"])
    payload_len = len(base64.b64decode(ED["envelope"]["payload"]))
    assert dsse.parse_envelope(body, payload_len).payload
    err = _code(dsse.parse_envelope, body, payload_len - 1)
    assert (err.code, err.status) == ("payload_too_large", 413)
    assert str(payload_len - 1) in err.detail
    # A body that cannot fit is refused before it is parsed.
    err = _code(dsse.parse_envelope, b" " * (dsse.max_body_bytes(10) + 1), 10)
    assert err.code == "payload_too_large" and "10" in err.detail


def test_shape_is_checked_before_size():
    env = _env(signatures=[])
    assert _code(dsse.parse_envelope, _body(env), 1).code == "malformed_envelope"


def test_url_safe_unpadded_accepted_and_kept_verbatim():
    sig = ED["envelope"]["signatures"][0]["sig"]
    url_sig = base64.urlsafe_b64encode(base64.b64decode(sig)).decode().rstrip("=")
    url_payload = base64.urlsafe_b64encode(base64.b64decode(ED["envelope"]["payload"])).decode().rstrip("=")
    env = _env(payload=url_payload, signatures=[{"sig": url_sig, "keyid": ED["keyid"]}])
    parsed = dsse.parse_envelope(_body(env), LIMIT)
    assert dsse.verify_signatures(parsed, KEYS.get) == [ED_PUB]
    assert parsed.raw_signatures == [{"sig": url_sig, "keyid": ED["keyid"]}]
    assert parsed.signatures[0].sig_b64 == url_sig
    assert dsse.statement_sha256(parsed) == ED["statement_sha256"]


# --- type (check 2) and signatures (check 3) ----------------------------------------


def test_payload_type_checked_separately():
    parsed = dsse.parse_envelope(_body(_env(payloadType="application/json")), LIMIT)
    assert _code(dsse.check_payload_type, parsed).code == "unsupported_payload_type"


def test_unknown_key_and_bad_signature():
    parsed = dsse.parse_envelope(_body(ED["envelope"]), LIMIT)
    err = _code(dsse.verify_signatures, parsed, {}.get)
    assert (err.code, err.status) == ("unknown_key", 403)
    # The right keyid but another key's signature.
    wrong = dsse.parse_envelope(
        _body(_env(signatures=[{"keyid": ED["keyid"], "sig": P256["envelope"]["signatures"][0]["sig"]}])), LIMIT
    )
    err = _code(dsse.verify_signatures, wrong, KEYS.get)
    assert (err.code, err.status) == ("bad_signature", 403)
    # A flipped payload byte.
    payload = bytearray(base64.b64decode(ED["envelope"]["payload"]))
    payload[5] ^= 1
    tampered = dsse.parse_envelope(_body(_env(payload=base64.b64encode(bytes(payload)).decode())), LIMIT)
    assert _code(dsse.verify_signatures, tampered, KEYS.get).code == "bad_signature"


def test_every_signature_must_verify_and_unknown_key_wins():
    good = ED["envelope"]["signatures"][0]
    p256_bad = {"keyid": P256["keyid"], "sig": P256["envelope"]["signatures"][0]["sig"]}  # over the same payload: valid
    both = dsse.parse_envelope(_body(_env(signatures=[good, p256_bad])), LIMIT)
    assert dsse.verify_signatures(both, KEYS.get) == [ED_PUB, P256_PUB]
    broken = {"keyid": P256["keyid"], "sig": good["sig"]}
    mixed = dsse.parse_envelope(_body(_env(signatures=[good, broken])), LIMIT)
    assert _code(dsse.verify_signatures, mixed, KEYS.get).code == "bad_signature"
    # A bad signature listed first, an unknown key second: unknown_key is reported.
    unknown = {"keyid": "f" * 64, "sig": good["sig"]}
    order = dsse.parse_envelope(_body(_env(signatures=[broken, unknown])), LIMIT)
    assert _code(dsse.verify_signatures, order, KEYS.get).code == "unknown_key"


def test_make_envelope_multiple_signers():
    p384 = ec.generate_private_key(ec.SECP384R1())
    pub384 = dsse.load_public_key(_pem(p384))
    env = dsse.make_envelope(b'{"a":1}', [(ED_KEY, None), (p384, pub384.keyid)])
    parsed = dsse.parse_envelope(_body(env), LIMIT)
    assert dsse.verify_signatures(parsed, {**KEYS, pub384.keyid: pub384}.get) == [ED_PUB, pub384]


# --- fuzz ----------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=20,
)
ENVELOPE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "payloadType": st.just(dsse.PAYLOAD_TYPE) | JSON_VALUES,
        "payload": st.just(ED["envelope"]["payload"]) | st.text(alphabet="AQUJD=-_+/ ", max_size=12) | JSON_VALUES,
        "signatures": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "keyid": st.just(ED["keyid"]) | JSON_VALUES,
                    "sig": st.text(alphabet="AQ=", max_size=8) | JSON_VALUES,
                },
            )
            | JSON_VALUES,
            max_size=3,
        )
        | JSON_VALUES,
    },
)


@FAST
@given(
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | ENVELOPE_LIKE.map(lambda v: json.dumps(v).encode())
)
def test_parse_envelope_fuzz_raises_only_protocol_error(body):
    try:
        parsed = dsse.parse_envelope(body, 1000)
    except ProtocolError:
        return
    try:
        dsse.check_payload_type(parsed)
        dsse.verify_signatures(parsed, KEYS.get)
    except ProtocolError:
        pass
