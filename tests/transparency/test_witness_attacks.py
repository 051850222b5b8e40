"""A malicious witness against the others and against every reader of the checkpoint.

A tlog-cosignature signs `cosignature/v1`, the time and the checkpoint, not the
witness's name: the name is bound only through the key hash, which anyone can
recompute for any name. So one key registered under two names yields two
"independent" cosignatures from one signer. And every cosignature the registry
accepts is served on the checkpoint, which every verifier (signed-note: at most
note.MAX_SIGNATURES lines) must still be able to read.
"""

import base64
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import connections

from core.errors import DomainError
from protocol import note
from transparency import witnesses
from transparency.checkpoints import log_private_key, verifier_key_line
from transparency.models import Cosignature, WitnessKey

from .helpers import append_events
from .test_witnesses import c2sp_cosign, c2sp_key_id, pem


def _register(client, name, key_pem):
    return client.post("/api/v1/log/witnesses/", {"name": name, "public_key": key_pem})


def _current(client):
    text = client.get("/api/v1/log/checkpoint").content.decode()
    return text, int(text.split("\n")[1])


def test_a_witness_cannot_register_another_witness_key_and_relabel_its_cosignatures(api, parties):
    us, fr = api(parties.users["insp_us"]), api(parties.users["insp_fr"])
    key = Ed25519PrivateKey.generate()
    assert _register(us, "insp-us.example/w", pem(key)).status_code == 201
    # The French inspectorate registers the US witness's public key under a name of its own...
    response = _register(fr, "insp-fr.example/w", pem(key))
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert not WitnessKey.objects.filter(name="insp-fr.example/w").exists()

    # ...so the US cosignature, relabelled (same timestamp and signature, the key hash
    # recomputed for the other name), cannot be posted as a French one.
    append_events(1)
    text, size = _current(us)
    line = c2sp_cosign(key, "insp-us.example/w", text, 1_700_000_000)
    assert (
        us.post("/api/v1/log/cosignatures", {"witness": "insp-us.example/w", "size": size, "line": line}).status_code
        == 201
    )
    blob = base64.b64decode(line.split(" ")[2])
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    relabelled = (
        "\u2014 insp-fr.example/w " + base64.b64encode(c2sp_key_id("insp-fr.example/w", raw) + blob[4:]).decode() + "\n"
    )
    # (the relabelled line is a valid cosignature for that name: the name is not signed)
    assert note.verify_cosignature(relabelled, text[: text.index("\n\n") + 1], "insp-fr.example/w", raw)
    response = fr.post("/api/v1/log/cosignatures", {"witness": "insp-fr.example/w", "size": size, "line": relabelled})
    assert response.status_code == 400
    assert Cosignature.objects.count() == 1


def test_the_same_key_twice_within_one_organisation_is_refused(api, parties):
    us = api(parties.users["insp_us"])
    key = pem(Ed25519PrivateKey.generate())
    assert _register(us, "insp-us.example/a", key).status_code == 201
    assert _register(us, "insp-us.example/b", key).status_code == 400


def test_the_log_key_is_no_witness_key(api, parties):
    response = _register(api(parties.users["treaty"]), "treaty.example/w", pem(log_private_key()))
    assert response.status_code == 400, response.content
    assert not WitnessKey.objects.exists()


def test_many_cosignatures_never_make_the_checkpoint_unreadable(api, parties):
    """One witness organisation registering key after key and cosigning with each broke
    GET /log/checkpoint for every party (more signature lines than a note may carry)."""
    us, fr = api(parties.users["insp_us"]), api(parties.users["insp_fr"])
    keys = {}
    for i in range(note.MAX_SIGNATURES + 2):
        key = Ed25519PrivateKey.generate()
        response = _register(us, f"insp-us.example/w{i}", pem(key))
        if response.status_code == 201:
            keys[f"insp-us.example/w{i}"] = key
        else:
            assert response.status_code == 409, response.content
            assert response.json()["code"] == "too_many_witness_keys"
    assert len(keys) < note.MAX_SIGNATURES - 1
    fr_key = Ed25519PrivateKey.generate()
    assert _register(fr, "insp-fr.example/w", pem(fr_key)).status_code == 201
    append_events(1)
    text, size = _current(us)
    for name, key in keys.items():
        line = c2sp_cosign(key, name, text, 1_700_000_000)
        response = us.post("/api/v1/log/cosignatures", {"witness": name, "size": size, "line": line})
        assert response.status_code == 201, response.content
    # One organisation cannot take every place: another witness still cosigns.
    line = c2sp_cosign(fr_key, "insp-fr.example/w", text, 1_700_000_000)
    response = fr.post("/api/v1/log/cosignatures", {"witness": "insp-fr.example/w", "size": size, "line": line})
    assert response.status_code == 201, response.content
    served = api(None).get("/api/v1/log/checkpoint")
    assert served.status_code == 200
    checkpoint = note.verify_checkpoint(served.content.decode(), verifier_key_line())
    assert len(checkpoint.signatures) == len(keys) + 2


def _stored_cosignatures(checkpoint, count):
    """`count` witnesses' cosignatures of `checkpoint`, written to storage directly."""
    body = note.parse_checkpoint(checkpoint.note).body
    for i in range(count):
        key = Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        name = f"org{i}.example/w"
        witness = WitnessKey.objects.create(
            organisation=f"org{i}", name=name, public_key=raw, key_line=note.cosigner_key_line(name, raw)
        )
        line = note.cosign(key, name, body, 1).rstrip("\n")
        Cosignature.objects.create(checkpoint=checkpoint, witness=witness, line=line, timestamp=1)


def test_a_checkpoint_accepts_no_more_cosignatures_than_its_note_may_carry(api, parties):
    from transparency.checkpoints import sign_if_due

    us = api(parties.users["insp_us"])
    key = Ed25519PrivateKey.generate()
    assert _register(us, "insp-us.example/w", pem(key)).status_code == 201
    append_events(1)
    checkpoint = sign_if_due()
    _stored_cosignatures(checkpoint, note.MAX_SIGNATURES - 1)
    text, size = _current(us)
    assert size == checkpoint.size
    line = c2sp_cosign(key, "insp-us.example/w", text, 1_700_000_000)
    response = us.post("/api/v1/log/cosignatures", {"witness": "insp-us.example/w", "size": size, "line": line})
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "cosignatures_full"
    assert note.verify_checkpoint(api(None).get("/api/v1/log/checkpoint").content.decode(), verifier_key_line())


def test_the_served_note_stays_within_the_signature_limit_even_if_storage_holds_more(parties):
    """Defence in depth: rows racing past the acceptance's limit are not served beyond the note's limit."""
    from transparency.checkpoints import served_note, sign_if_due

    append_events(1)
    checkpoint = sign_if_due()
    _stored_cosignatures(checkpoint, note.MAX_SIGNATURES + 3)
    parsed = note.verify_checkpoint(served_note(checkpoint), verifier_key_line())
    assert len(parsed.signatures) == note.MAX_SIGNATURES


def test_a_small_order_witness_key_is_refused(api, parties):
    """With the identity point as its key, anyone (the registry too) forges the witness's cosignature
    of any checkpoint, and the witness can deny each one it made."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    weak = Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31))
    key_pem = weak.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    response = _register(api(parties.users["insp_us"]), "insp-us.example/weak", key_pem)
    assert response.status_code == 400, response.content
    assert not WitnessKey.objects.exists()


def test_a_witness_at_its_cap_rotates_a_key_by_retiring_one(api, parties):
    """With a cap on active keys, retiring is how a witness rotates: its organisation's own key only, logged,
    once; a retired key cosigns nothing more, and its earlier cosignatures stay served."""
    from transparency.models import LogEventData

    us, fr = api(parties.users["insp_us"]), api(parties.users["insp_fr"])
    keys = [Ed25519PrivateKey.generate() for _ in range(5)]
    made = [_register(us, f"insp-us.example/r{i}", pem(k)) for i, k in enumerate(keys[:4])]
    assert [r.status_code for r in made] == [201] * 4
    refused = _register(us, "insp-us.example/r4", pem(keys[4]))
    assert (refused.status_code, refused.json()["code"]) == (409, "too_many_witness_keys")
    append_events(1)
    text, size = _current(us)
    line = c2sp_cosign(keys[0], "insp-us.example/r0", text, 1_700_000_000)
    posted = us.post("/api/v1/log/cosignatures", {"witness": "insp-us.example/r0", "size": size, "line": line})
    assert posted.status_code == 201
    first = made[0].json()["id"]
    # Another witness organisation sees the key (witness keys are public) and may not retire it.
    assert fr.delete(f"/api/v1/log/witnesses/{first}/").status_code == 403
    assert WitnessKey.objects.get(pk=first).retired_at is None
    assert us.delete(f"/api/v1/log/witnesses/{first}/").status_code == 204
    again = us.delete(f"/api/v1/log/witnesses/{first}/")
    assert (again.status_code, again.json()["code"]) == (409, "already_retired")
    assert LogEventData.objects.filter(event="witness.retired", object_id="insp-us.example/r0").count() == 1
    assert _register(us, "insp-us.example/r4", pem(keys[4])).status_code == 201
    # The retired key's cosignature of the earlier checkpoint stays on it; on a new one it is refused.
    from transparency.checkpoints import served_note
    from transparency.models import Checkpoint

    assert line.strip() in served_note(Checkpoint.objects.get(size=size))
    append_events(1)
    text, size = _current(us)
    late = c2sp_cosign(keys[0], "insp-us.example/r0", text, 1_700_000_100)
    response = us.post("/api/v1/log/cosignatures", {"witness": "insp-us.example/r0", "size": size, "line": late})
    assert response.status_code == 400 and "No active witness key" in response.json()["detail"]
    assert not Cosignature.objects.filter(witness_id=first, checkpoint__size=size).exists()


def _race(calls):
    """Run `calls` at once, each in its own thread and connection: what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except DomainError as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _raw(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.django_db(transaction=True)
def test_one_key_registered_by_two_organisations_at_once_is_stored_once(catalog, parties):
    """The serializer's check reads before either insert: without the database's rule both would pass."""
    raw = _raw(Ed25519PrivateKey.generate())
    us, fr = parties.users["insp_us"], parties.users["insp_fr"]
    outcomes = _race(
        [
            lambda: witnesses.register("insp-us", "insp-us.example/race", raw, us),
            lambda: witnesses.register("insp-fr", "insp-fr.example/race", raw, fr),
        ]
    )
    assert WitnessKey.objects.filter(public_key=raw).count() == 1
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(refused) == 1
    assert (refused[0].status, refused[0].code, list(refused[0].extra["errors"])) == (400, "invalid", ["public_key"])
    from transparency.models import LogEventData

    assert LogEventData.objects.filter(event="witness.registered").count() == 1


@pytest.mark.django_db(transaction=True)
def test_registrations_at_once_never_pass_the_cap_on_active_keys(catalog, parties):
    us = parties.users["insp_us"]
    org = us.organisation.code
    calls = [
        (lambda i=i: witnesses.register(org, f"insp-us.example/cap{i}", _raw(Ed25519PrivateKey.generate()), us))
        for i in range(witnesses.MAX_KEYS_PER_ORGANISATION + 3)
    ]
    outcomes = _race(calls)
    assert WitnessKey.objects.filter(organisation=org, retired_at__isnull=True).count() == (
        witnesses.MAX_KEYS_PER_ORGANISATION
    )
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert [r.code for r in refused] == ["too_many_witness_keys"] * 3


def test_early_witnesses_cannot_fill_the_checkpoint_before_a_late_one_cosigns(api, parties):
    """The note carries at most 63 cosignatures. With 60 organisations signed, one that holds four keys took the
    last three places and the treaty body, cosigning a minute later, found the checkpoint full: an
    organisation's further keys get only what is left after a place is kept for each one not yet signed."""
    from transparency.checkpoints import sign_if_due

    us, treaty = api(parties.users["insp_us"]), api(parties.users["treaty"])
    us_keys = {f"insp-us.example/k{i}": Ed25519PrivateKey.generate() for i in range(4)}
    for name, key in us_keys.items():
        assert _register(us, name, pem(key)).status_code == 201
    treaty_key = Ed25519PrivateKey.generate()
    assert _register(treaty, "treaty.example/w", pem(treaty_key)).status_code == 201
    append_events(1)
    checkpoint = sign_if_due()
    _stored_cosignatures(checkpoint, note.MAX_SIGNATURES - 4)  # 60 other organisations have cosigned
    text, size = _current(us)

    def cosign(client, name, key):
        line = c2sp_cosign(key, name, text, 1_700_000_000)
        return client.post("/api/v1/log/cosignatures", {"witness": name, "size": size, "line": line})

    outcomes = [cosign(us, name, key) for name, key in us_keys.items()]
    assert [r.status_code for r in outcomes] == [201, 201, 409, 409]
    assert outcomes[2].json()["code"] == "cosignatures_full"
    assert cosign(treaty, "treaty.example/w", treaty_key).status_code == 201
    assert checkpoint.cosignatures.count() == note.MAX_SIGNATURES - 1
    served = note.verify_checkpoint(api(None).get("/api/v1/log/checkpoint").content.decode(), verifier_key_line())
    assert len(served.signatures) == note.MAX_SIGNATURES
