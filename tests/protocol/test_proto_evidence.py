"""protocol.evidence: an alert's evidence bundle verifies offline with the log key alone, and any
change to any part of it fails at the step that checks that part (LOG.md section 5)."""

import base64
import copy
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.evidence import STEPS, EvidenceError, named_indices, verify_bundle
from protocol.note import verifier_key_line
from tests.protocol.evidence_world import CHIPS, ORIGIN, World, envelope_bytes


@pytest.fixture(scope="module")
def world():
    return World()


def test_a_bundle_verifies_with_the_log_key_alone(world):
    verified = verify_bundle(world.bundle(), world.key_line)
    assert (verified.origin, verified.size) == (ORIGIN, 8)
    assert [(e.log_index, e.type) for e in verified.entries] == [(2, "event"), (4, "attestation"), (6, "event")]
    event = verified.entries[0]
    assert event.data_checked and event.data == {"chips": 2, "x": 1e20} and event.event == "placements.declared"
    assert verified.entries[1].statement_sha256 and not verified.entries[1].data_checked
    # As bytes too (what a verifier reads from a file), and with what the holder of the chips and envelope adds.
    again = verify_bundle(
        json.dumps(world.bundle()).encode(), world.key_line, chips=CHIPS, envelopes={4: world.envelope}
    )
    assert again.chips_checked and again.entries[1].envelope_checked
    assert again.summary()["entries"][1] == {
        "log_index": 4,
        "type": "attestation",
        "statement_sha256": verified.entries[1].statement_sha256,
        "data_checked": False,
        "envelope_checked": True,
    }


def test_an_event_without_its_data_still_proves_its_leaf(world):
    bundle = world.bundle()
    del bundle["entries"][0]["data_jcs"]  # data withheld from a reader who may not see it
    assert not verify_bundle(bundle, world.key_line).entries[0].data_checked


def test_evidence_naming_no_entry_proves_the_checkpoint_only(world):
    verified = verify_bundle(world.bundle(indices=()), world.key_line)
    assert verified.entries == [] and verified.size == 8


def _flip(b64, at=0):
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _set_size_line(note, size):
    origin, _, rest = note.split("\n", 2)
    return f"{origin}\n{size}\n{rest}"


def _flip_signature(note):
    body, sig = note.rsplit(" ", 1)
    return f"{body} {_flip(sig.strip(), 10)}\n"


def _other_leaf(b, world):
    b["entries"][1]["leaf"] = base64.b64encode(world.leaves[5]).decode()  # a real leaf, at another index


def _data(b):
    b["entries"][0]["data_jcs"] = b["entries"][0]["data_jcs"].replace('"chips":2', '"chips":3')


TAMPERING = [
    ("leaf-bytes", lambda b, w: b["entries"][0].__setitem__("leaf", _flip(b["entries"][0]["leaf"], 30)), "inclusion"),
    ("another-leaf", _other_leaf, "inclusion"),
    (
        "proof-node",
        lambda b, w: b["entries"][1]["inclusion"].__setitem__(1, _flip(b["entries"][1]["inclusion"][1])),
        "inclusion",
    ),
    ("proof-truncated", lambda b, w: b["entries"][1]["inclusion"].pop(), "inclusion"),
    ("index", lambda b, w: b["entries"][0].__setitem__("log_index", 3), "coverage"),
    ("signature", lambda b, w: b.__setitem__("checkpoint", _flip_signature(b["checkpoint"])), "checkpoint"),
    ("size-in-note", lambda b, w: b.__setitem__("checkpoint", _set_size_line(b["checkpoint"], 9)), "checkpoint"),
    ("tree-size", lambda b, w: b.__setitem__("tree_size", 9), "size"),
    ("data", lambda b, w: _data(b), "data"),
    ("entry-missing", lambda b, w: b["entries"].pop(1), "coverage"),
    ("entry-extra", lambda b, w: b["entries"].append(w.entry(7)), "coverage"),
    (
        "source-beyond-tree",
        lambda b, w: b["evidence"]["sources"].append({"source": "s", "id": "x", "log_index": 8}),
        "coverage",
    ),
    ("entries-unordered", lambda b, w: b["entries"].reverse(), "format"),
    ("no-checkpoint", lambda b, w: b.pop("checkpoint"), "format"),
    ("not-a-bundle", lambda b, w: b.__setitem__("type", "receipt"), "format"),
    ("leaf-not-base64", lambda b, w: b["entries"][0].__setitem__("leaf", "not base64!"), "format"),
    ("data-on-attestation", lambda b, w: b["entries"][1].__setitem__("data_jcs", "{}"), "format"),
    ("size-not-int", lambda b, w: b.__setitem__("tree_size", True), "format"),
]


@pytest.mark.parametrize(("mutate", "step"), [pytest.param(m, s, id=name) for name, m, s in TAMPERING])
def test_tampering_fails_at_the_step_that_checks_it(world, mutate, step):
    bundle = copy.deepcopy(world.bundle())
    mutate(bundle, world)
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(bundle, world.key_line)
    assert caught.value.step == step and step in STEPS
    assert caught.value.code == "invalid_evidence" and caught.value.detail.startswith(f"{step}: ")


def test_a_leaf_in_the_tree_that_is_no_entry_fails_at_entry(world):
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(world.bundle(indices=(2, 7)), world.key_line)
    assert caught.value.step == "entry" and "entry 7" in caught.value.detail


def test_another_log_key_fails_at_checkpoint(world):
    other = verifier_key_line(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(EvidenceError, match="checkpoint: ") as caught:
        verify_bundle(world.bundle(), other)
    assert caught.value.step == "checkpoint"


def test_chips_and_envelopes_that_are_not_the_evidence_fail(world):
    with pytest.raises(EvidenceError) as caught:
        verify_bundle(world.bundle(), world.key_line, chips=CHIPS + b"nvidia:1\n")
    assert caught.value.step == "chips"
    for envelopes in ({4: envelope_bytes("ef" * 16)}, {2: world.envelope}, {5: world.envelope}, {4: b"{}"}):
        with pytest.raises(EvidenceError) as caught:
            verify_bundle(world.bundle(), world.key_line, envelopes=envelopes)
        assert caught.value.step == "envelope", envelopes.keys()


def test_named_indices_are_distinct_and_sorted():
    sources = [{"log_index": 5}, {"log_index": 2}, {"log_index": 5}, {"log_index": None}, {"log_index": True}, {}]
    assert named_indices(sources) == [2, 5]
