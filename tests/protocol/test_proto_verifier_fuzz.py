"""Fuzzing the verifying side as a malicious registry would: random trees and notes, one change each.

- every honest proof verifies; a proof with one hash, the leaf, the index or a root changed, a
  hash dropped, added or repeated, fails (the size travels signed with its root, so it is not
  mutated alone: see test_proto_merkle);
- a consistency proof from a fork (one leaf of the old tree rewritten) never verifies;
- a signed checkpoint or cosignature with one character inserted, removed or replaced either
  raises the module's ProtocolError or verifies as the very same note: never another one;
- garbage never raises anything else.
"""

import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import merkle, monitor, note
from protocol.encoding import b64encode
from protocol.errors import ProtocolError

from .helpers import FAST

FUZZ = settings(FAST, max_examples=60)


def _leaves(n, tag=b""):
    return [hashlib.sha256(tag + i.to_bytes(4, "big")).digest() for i in range(n)]


def _flip(h, bit):
    bit %= len(h) * 8
    return h[: bit // 8] + bytes([h[bit // 8] ^ (1 << (bit % 8))]) + h[bit // 8 + 1 :]


@FUZZ
@given(st.data())
def test_inclusion_any_single_mutation_fails(data):
    n = data.draw(st.integers(1, 300), "n")
    i = data.draw(st.integers(0, n - 1), "i")
    hashes = [merkle.leaf_hash(x) for x in _leaves(n)]
    root = merkle.root_from_leaf_hashes(hashes)
    proof = merkle.inclusion_proof(i, n, hashes)
    assert merkle.verify_inclusion(i, n, hashes[i], proof, root)
    kind = data.draw(st.sampled_from(["hash", "leaf", "root", "index", "drop", "add", "repeat", "other-leaf"]))
    bit = data.draw(st.integers(0, 255))
    leaf, args_proof, r, index = hashes[i], list(proof), root, i
    if kind == "hash" and proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        args_proof[pos] = _flip(proof[pos], bit)
    elif kind == "leaf":
        leaf = _flip(leaf, bit)
    elif kind == "root":
        r = _flip(root, bit)
    elif kind == "index":
        index = data.draw(st.integers(-2, 2 * n).filter(lambda j: j != i))
    elif kind == "drop" and proof:
        del args_proof[data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        extra = data.draw(st.binary(min_size=32, max_size=32) | st.sampled_from([root, hashes[i], *proof] or [root]))
        args_proof.insert(data.draw(st.integers(0, len(proof))), extra)
    elif kind == "repeat" and proof:
        pos = data.draw(st.integers(0, len(proof) - 1))
        args_proof.insert(pos, proof[pos])
    elif kind == "other-leaf" and n > 1:
        leaf = hashes[(i + 1) % n]
    else:
        return
    assert not merkle.verify_inclusion(index, n, leaf, args_proof, r)


@FUZZ
@given(st.data())
def test_consistency_any_single_mutation_or_fork_fails(data):
    n = data.draw(st.integers(2, 300), "n")
    m = data.draw(st.integers(1, n - 1), "m")
    hashes = [merkle.leaf_hash(x) for x in _leaves(n)]
    root_m, root_n = merkle.root_from_leaf_hashes(hashes[:m]), merkle.root_from_leaf_hashes(hashes)
    proof = merkle.consistency_proof(m, n, hashes)
    assert merkle.verify_consistency(m, n, root_m, root_n, proof)
    kind = data.draw(st.sampled_from(["hash", "root_m", "root_n", "m", "drop", "add", "fork", "swap"]))
    bit = data.draw(st.integers(0, 255))
    args = [m, n, root_m, root_n, list(proof)]
    if kind == "hash":
        pos = data.draw(st.integers(0, len(proof) - 1))
        args[4][pos] = _flip(proof[pos], bit)
    elif kind == "root_m":
        args[2] = _flip(root_m, bit)
    elif kind == "root_n":
        args[3] = _flip(root_n, bit)
    elif kind == "m":
        args[0] = data.draw(st.integers(0, n).filter(lambda k: k != m))
    elif kind == "drop":
        del args[4][data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        args[4].insert(data.draw(st.integers(0, len(proof))), data.draw(st.sampled_from([root_m, root_n, *proof])))
    elif kind == "swap":
        args = [m, n, root_n, root_m, list(proof)]
    else:  # a fork: the registry rewrote leaf k < m and proves its new tree (of any size >= m)
        k = data.draw(st.integers(0, m - 1))
        forked = list(hashes)
        forked[k] = merkle.leaf_hash(b"rewritten")
        n2 = data.draw(st.integers(m, n))
        root_fork = merkle.root_from_leaf_hashes(forked[:n2])
        fork_proof = merkle.consistency_proof(m, n2, forked) if n2 > m else []
        assert not merkle.verify_consistency(m, n2, root_m, root_fork, fork_proof)
        # nor does the honest proof carry the old root to the forked one
        assert not merkle.verify_consistency(m, n, root_m, merkle.root_from_leaf_hashes(forked), proof)
        return
    assert not merkle.verify_consistency(*args)


_hash_like = st.one_of(st.binary(min_size=0, max_size=40), st.binary(min_size=32, max_size=32))
_ints = st.one_of(st.integers(-3, 70), st.integers(-(2**70), 2**70))


@FUZZ
@given(_ints, _ints, _hash_like, _hash_like, st.lists(_hash_like, max_size=12))
def test_proof_verifiers_on_garbage_answer_false(a, b, h1, h2, proof):
    assert merkle.verify_inclusion(a, b, h1, proof, h2) in (True, False)
    assert merkle.verify_consistency(a, b, h1, h2, proof) in (True, False)


# --- signed notes -------------------------------------------------------------------

LOG = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
WITNESS = Ed25519PrivateKey.from_private_bytes(b"\x08" * 32)
ORIGIN = "registry.example/log"
KEY_LINE = note.verifier_key_line(ORIGIN, LOG.public_key())
_EDIT_CHARS = st.sampled_from(
    ["\n", "\r", " ", "\t", "\u2014", "\u2013", "\u2012", "\u2212", "-", "+", "/", "=", "A", "a", "0", "1", "\u00a0"]
)


def _signed(size, root, with_witness):
    text = note.sign_checkpoint(LOG, ORIGIN, size, root)
    if with_witness:
        body = text[: text.index("\n\n") + 1]
        text += note.cosign(WITNESS, "witness.example/w", body, 1_700_000_000)
    return text


def _edit(data, text):
    pos = data.draw(st.integers(0, len(text)), "pos")
    op = data.draw(st.sampled_from(["insert", "delete", "replace"]), "op")
    char = data.draw(_EDIT_CHARS, "char")
    if op == "insert":
        return text[:pos] + char + text[pos:]
    if op == "delete":
        return text[:pos] + text[pos + 1 :]
    return text[:pos] + char + text[pos + 1 :]


@FUZZ
@given(st.data(), st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.booleans())
def test_an_edited_checkpoint_is_refused_or_the_same_note(data, size, root, with_witness):
    text = _signed(size, root, with_witness)
    original = note.verify_checkpoint(text, KEY_LINE)
    edited = _edit(data, text)
    try:
        got = note.verify_checkpoint(edited, KEY_LINE)
    except ProtocolError:
        return
    # Only the witness's line (ignored by the log's verifier) may have changed.
    assert (got.origin, got.size, got.root, got.body) == (original.origin, size, root, original.body)
    assert original.signatures[0] in got.signatures


@FUZZ
@given(st.data(), st.integers(0, 2**63 - 1))
def test_an_edited_cosignature_is_refused_or_the_same(data, timestamp):
    body = note.checkpoint_body(ORIGIN, 5, b"\x01" * 32)
    line = note.cosign(WITNESS, "witness.example/w", body, timestamp)
    raw = WITNESS.public_key()
    assert note.verify_cosignature(line, body, "witness.example/w", raw) == timestamp
    edited = _edit(data, line)
    try:
        got = note.verify_cosignature(edited, body, "witness.example/w", raw)
    except ProtocolError:
        return
    assert got == timestamp and edited.rstrip("\n") == line.rstrip("\n")


def test_a_cosignature_is_not_a_log_signature_nor_the_reverse():
    """Same key, both roles: the messages differ (cosignature/v1 prefix), and so do the key hashes."""
    body = note.checkpoint_body(ORIGIN, 5, b"\x01" * 32)
    cosig = note.cosign(LOG, ORIGIN, body, 0)
    text = body.decode() + "\n" + cosig
    try:
        note.verify_checkpoint(text, KEY_LINE)
        raise AssertionError("a cosignature line was read as the log's signature")
    except ProtocolError:
        pass
    log_line = note.sign_note(LOG, ORIGIN, body)
    try:
        note.verify_cosignature(log_line, body, ORIGIN, LOG.public_key())
        raise AssertionError("the log's signature was read as a cosignature")
    except ProtocolError:
        pass


@FUZZ
@given(st.text(max_size=200))
def test_key_lines_and_signature_lines_on_garbage_raise_only_protocol_error(text):
    for parse in (note.parse_verifier_key, note.parse_cosigner_key):
        try:
            parse(text)
        except ProtocolError:
            pass
    try:
        note.verify_cosignature(text, b"x\n", "witness.example/w", WITNESS.public_key())
    except ProtocolError:
        pass
    try:
        note.verify_checkpoint(text, KEY_LINE)
    except ProtocolError:
        pass


# --- the monitor against a forking registry ---------------------------------------


@FUZZ
@given(st.data())
def test_the_monitor_never_accepts_a_fork_or_a_rollback(data):
    n = data.draw(st.integers(1, 60), "n")
    m = data.draw(st.integers(0, n), "m")
    hashes = [merkle.leaf_hash(x) for x in _leaves(n)]
    seen = note.sign_checkpoint(LOG, ORIGIN, m, merkle.root_from_leaf_hashes(hashes[:m]))
    fork = list(hashes)
    if m:
        fork[data.draw(st.integers(0, m - 1), "k")] = merkle.leaf_hash(b"rewritten")
    served_size = data.draw(st.integers(0, n), "served")
    served = note.sign_checkpoint(LOG, ORIGIN, served_size, merkle.root_from_leaf_hashes(fork[:served_size]))
    honest_proof = data.draw(st.booleans(), "honest")

    def fetch(url):
        if url.endswith("/log/checkpoint"):
            return served.encode()
        tree = hashes if honest_proof else fork
        proof = merkle.consistency_proof(m, served_size, tree) if 0 < m <= served_size else []
        return json.dumps({"first": m, "second": served_size, "hashes": [b64encode(h) for h in proof]}).encode()

    forked_or_rolled_back = (m > 0 and served_size >= m) or served_size < m
    try:
        outcome = monitor.check("http://registry.test", KEY_LINE, seen, fetch)
    except monitor.SplitView:
        assert forked_or_rolled_back
        return
    assert not forked_or_rolled_back, outcome


# --- small-order keys: signatures anyone forges ------------------------------------

# The Ed25519 points of order 1, 2, 4 and 8, canonically encoded, then some non-canonical forms
# (libsodium's blocklist): a registry publishing one as its key, or a witness registering one,
# could deny every checkpoint "signed" with it, since anyone can forge one.
SMALL_ORDER = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
]
NON_CANONICAL = [
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # y = p
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # y = p + 1
    b"\x01" + bytes(30) + b"\x80",  # x = 0 with the sign bit set
]


def _forged_line(name, kh, extra=b""):
    # R = the identity point, S = 0: [0]B = R + [k]A whenever [k]A is the identity.
    blob = kh + extra + b"\x01" + bytes(63)
    return "\u2014 " + name + " " + b64encode(blob) + "\n"


def test_a_small_order_log_key_is_refused_and_its_forgeries_with_it():
    raw = b"\x01" + bytes(31)  # the identity: every message "verifies"
    key_line = note.verifier_key_line(ORIGIN, raw)
    forged = note.checkpoint_body(ORIGIN, 9, b"\x02" * 32).decode() + "\n"
    forged += _forged_line(ORIGIN, note.key_hash(ORIGIN, raw))
    try:
        note.verify_checkpoint(forged, key_line)
        raise AssertionError("a checkpoint forged under a small-order log key verified")
    except ProtocolError:
        pass
    for raw in SMALL_ORDER + NON_CANONICAL:
        for line, parse in (
            (note.verifier_key_line(ORIGIN, raw), note.parse_verifier_key),
            (note.cosigner_key_line("witness.example/w", raw), note.parse_cosigner_key),
        ):
            try:
                parse(line)
                raise AssertionError(f"key {raw.hex()} accepted")
            except ProtocolError:
                pass


def test_a_cosignature_under_a_small_order_witness_key_is_refused():
    raw = b"\x01" + bytes(31)
    body = note.checkpoint_body(ORIGIN, 5, b"\x01" * 32)
    name = "witness.example/w"
    line = _forged_line(name, note.key_hash(name, raw, note.SIG_TYPE_COSIGNATURE_V1), (1).to_bytes(8, "big"))
    try:
        note.verify_cosignature(line, body, name, raw)
        raise AssertionError("a cosignature forged under a small-order witness key verified")
    except ProtocolError:
        pass


@FUZZ
@given(st.binary(min_size=32, max_size=32))
def test_generated_keys_are_strong(seed):
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert note.is_strong_ed25519_key(raw)
    assert note.parse_verifier_key(note.verifier_key_line(ORIGIN, raw)).public_key_raw == raw
