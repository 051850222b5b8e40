"""Witnesses: treaty bodies and inspectorates cosign checkpoints (C2SP tlog-cosignature).

The cosignatures here are built by a second, independent implementation written
from the C2SP text (not protocol.note), so a shared misreading of the spec
would show up as a refused cosignature.
"""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol import note
from transparency.checkpoints import sign_if_due, verifier_key_line
from transparency.models import WitnessKey

from .helpers import append_events

# --- tlog-cosignature/v1, Ed25519, from https://c2sp.org/tlog-cosignature ---


def c2sp_key_id(name, public_raw):
    return hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_raw).digest()[:4]


def c2sp_cosign(private_key, name, checkpoint_text, timestamp):
    """The signature line: '— <name> base64(key ID || u64 BE timestamp || Ed25519 sig)'."""
    body = checkpoint_text[: checkpoint_text.index("\n\n") + 1].encode()  # note body, final newline included
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + body
    public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    blob = c2sp_key_id(name, public_raw) + timestamp.to_bytes(8, "big") + private_key.sign(message)
    return "\u2014 " + name + " " + base64.b64encode(blob).decode() + "\n"


# ---------------------------------------------------------------------------------


def pem(private_key):
    return private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def witness(api, parties):
    key = Ed25519PrivateKey.generate()
    client = api(parties.users["insp_us"])
    response = client.post("/api/v1/log/witnesses/", {"name": "insp-us.example/w1", "public_key": pem(key)})
    assert response.status_code == 201, response.content
    public_raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected_vkey = (
        "insp-us.example/w1+"
        + c2sp_key_id("insp-us.example/w1", public_raw).hex()
        + "+"
        + base64.b64encode(b"\x04" + public_raw).decode()
    )
    assert response.json()["key_line"] == expected_vkey
    return client, key, "insp-us.example/w1"


def test_treaty_body_registers_a_witness_and_the_registration_is_logged(api, parties):
    from transparency.models import LogEventData

    key = Ed25519PrivateKey.generate()
    response = api(parties.users["treaty"]).post(
        "/api/v1/log/witnesses/", {"name": "treaty.example/w", "public_key": pem(key)}
    )
    assert response.status_code == 201, response.content
    assert response.json()["organisation"] == "treaty"
    assert LogEventData.objects.filter(event="witness.registered", object_id="treaty.example/w").exists()


@pytest.mark.parametrize("role", ["op_a_admin", "op_b", "nvidia"])
def test_operators_and_manufacturers_cannot_register_witness_keys(api, parties, role):
    response = api(parties.users[role]).post(
        "/api/v1/log/witnesses/", {"name": "sneaky.example/w", "public_key": pem(Ed25519PrivateKey.generate())}
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert not WitnessKey.objects.exists()


@pytest.mark.parametrize(
    ("name", "public_key"),
    [
        ("has space", None),
        ("plus+sign", None),
        ("ctl\x01char", None),
        ("chipreg.local/log", None),  # the log's own key name
        ("ok.example/w", "not a pem"),
        ("ok.example/w", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        ("ok.example/w", "p256"),
    ],
)
def test_bad_witness_keys_are_400(api, parties, name, public_key):
    if public_key is None:
        public_key = pem(Ed25519PrivateKey.generate())
    elif public_key == "p256":
        public_key = pem(ec.generate_private_key(ec.SECP256R1()))
    response = api(parties.users["treaty"]).post("/api/v1/log/witnesses/", {"name": name, "public_key": public_key})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_cosignature_is_accepted_and_served_as_an_extra_signature_line(api, witness):
    client, key, name = witness
    append_events(2)
    text = client.get("/api/v1/log/checkpoint").content.decode()
    size = int(text.split("\n")[1])
    line = c2sp_cosign(key, name, text, 1_700_000_000)
    response = client.post("/api/v1/log/cosignatures", {"witness": name, "size": size, "line": line})
    assert response.status_code == 201, response.content
    assert response.json()["timestamp"] == 1_700_000_000

    served = api(None).get("/api/v1/log/checkpoint").content.decode()
    assert served == text + line
    # Still a valid checkpoint for the log key; the witness line verifies as C2SP says.
    note.verify_checkpoint(served, verifier_key_line())
    assert note.verify_cosignature(line, text[: text.index("\n\n") + 1], name, key.public_key()) == 1_700_000_000

    again = client.post("/api/v1/log/cosignatures", {"witness": name, "size": size, "line": line})
    assert again.status_code == 409


def test_bad_cosignatures_are_400_problems(api, witness):
    client, key, name = witness
    text = client.get("/api/v1/log/checkpoint").content.decode()
    size = int(text.split("\n")[1])
    good = c2sp_cosign(key, name, text, 1_700_000_000)
    blob = bytearray(base64.b64decode(good.split(" ")[2]))
    blob[-1] ^= 1
    bad_lines = [
        good.replace(good.split(" ")[2], base64.b64encode(bytes(blob)).decode() + "\n"),  # bad signature
        c2sp_cosign(Ed25519PrivateKey.generate(), name, text, 1_700_000_000),  # other key
        c2sp_cosign(key, name, text.replace(text.split("\n")[2], "A" * 43 + "="), 1_700_000_000),  # other root
        "\u2014 " + name + " not-base64!",
        "garbage",
        "\u2014 " + name + " " + base64.b64encode(b"\x00" * 10).decode(),  # too short
    ]
    for line in bad_lines:
        response = client.post("/api/v1/log/cosignatures", {"witness": name, "size": size, "line": line})
        assert response.status_code == 400, (line, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] in ("invalid_cosignature", "invalid")
    assert not client.get("/api/v1/log/checkpoint").content.decode().count(name)


def test_cosigning_a_stale_checkpoint_is_refused(api, witness):
    client, key, name = witness
    old = client.get("/api/v1/log/checkpoint").content.decode()
    append_events(1)
    sign_if_due()
    response = client.post(
        "/api/v1/log/cosignatures",
        {"witness": name, "size": int(old.split("\n")[1]), "line": c2sp_cosign(key, name, old, 1_700_000_000)},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "stale_checkpoint"


def test_only_the_witness_organisation_may_post_its_cosignatures(api, parties, witness):
    _, key, name = witness
    text = api(None).get("/api/v1/log/checkpoint").content.decode()
    response = api(parties.users["treaty"]).post(
        "/api/v1/log/cosignatures",
        {"witness": name, "size": int(text.split("\n")[1]), "line": c2sp_cosign(key, name, text, 1)},
    )
    assert response.status_code == 400


def test_every_signed_in_party_reads_a_witness_keys_registration_and_retirement(api, parties, witness):
    """Witness keys are public (anyone checks a cosignature), and the README lists their events with the rules
    and keys every signed-in party reads: an operator and another country's inspectorate read them too (they
    were the witness's organisation's and the treaty body's only)."""
    from transparency.models import LogEventData, WitnessKey

    client, _, name = witness
    key = WitnessKey.objects.get(name=name)
    assert client.delete(f"/api/v1/log/witnesses/{key.pk}/").status_code in (200, 204)
    events = LogEventData.objects.filter(object_id=name).order_by("index")
    assert [e.event for e in events] == ["witness.registered", "witness.retired"]
    for reader in ("op_a_admin", "op_b", "insp_fr", "nvidia"):
        for event in events:
            response = api(parties.users[reader]).get(f"/api/v1/log/entries/{event.index}")
            assert response.status_code == 200, (reader, event.event, response.content)
            assert response.json()["data"]["organisation"] == "insp-us"
    assert api(None).get(f"/api/v1/log/entries/{events[0].index}").status_code == 401


def test_witness_events_stored_before_are_read_by_every_party_after_the_migration(api, parties, witness):
    """Migration 0005: a witness event appended before 7cd3809 named only the witness's organisation; it is
    widened as the new ones are (and narrowed back by the reverse), its leaf untouched."""
    from importlib import import_module

    from django.apps import apps

    from transparency.models import LogEventData, LogLeaf

    migration = import_module("transparency.migrations.0005_witness_events_read_by_all")
    event = LogEventData.objects.get(event="witness.registered", object_id=witness[2])
    leaf = bytes(LogLeaf.objects.get(index=event.index).leaf)
    LogEventData.objects.filter(index=event.index).update(parties=["insp-us"])  # as appended before
    reader = api(parties.users["op_a_admin"])
    assert reader.get(f"/api/v1/log/entries/{event.index}").status_code == 403
    migration.read_by_all(apps, None)
    assert reader.get(f"/api/v1/log/entries/{event.index}").status_code == 200
    migration.read_by_the_witness(apps, None)
    assert LogEventData.objects.get(index=event.index).parties == ["insp-us"]
    assert reader.get(f"/api/v1/log/entries/{event.index}").status_code == 403
    assert bytes(LogLeaf.objects.get(index=event.index).leaf) == leaf
