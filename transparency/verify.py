"""Audit the stored log against itself, in one streamed pass (`manage.py verify_log`).

The database is not trusted: every leaf hash is recomputed from the stored
leaf bytes, and every checkpoint root from those recomputed hashes alone. The
leaves are read in index order in chunks and folded into a Merkle frontier (at
most one pending subtree hash per level), so memory stays bounded whatever the
size of the log: at 100M leaves the frontier holds 27 hashes and a chunk a few
thousand rows. Along the way:

- indices must be dense from 0 and end at the head's size;
- each stored leaf hash must be the hash of the stored leaf, each stored
  subtree node (levels >= NODE_LEVEL_MIN) must equal the one the frontier just
  completed, and no node may exist beyond the tree or below that level;
- each checkpoint must verify under the log key, state the size and root
  stored beside it, and that root must be the recomputed root at its size;
  each stored cosignature must verify under its witness key;
- each event leaf's data_sha256 must be the hash of its stored data, which
  must be JCS (what a client recomputes from the served JSON), numbers read
  as the IEEE doubles RFC 8785 defines them to be.

The first mismatch raises LogMismatch naming the leaf index (or checkpoint
size) where the log stops being what it claims.
"""

from collections.abc import Iterator

from django.db.models import Q

from protocol import merkle, note
from protocol.encoding import is_jcs, jcs, jcs_loads, sha256_hex
from protocol.errors import ProtocolError
from transparency import models
from transparency.models import Checkpoint, Cosignature, LogEventData, LogHead, LogLeaf, LogNode, WitnessKey, node_key


class LogMismatch(Exception):
    def __init__(self, where, message):
        super().__init__(f"{where}: {message}")
        self.where = where


class Frontier:
    """The right edge of a Merkle tree fed leaf hashes in order: O(log n) memory."""

    def __init__(self):
        self.size = 0
        self.stack = []  # (level, hash), levels strictly decreasing

    def push(self, leaf_hash):
        """Add the next leaf hash; yield every (level, k, hash) node it completes, lowest first."""
        index = self.size
        self.size += 1
        level, cur = 0, leaf_hash
        yield 0, index, cur
        while self.stack and self.stack[-1][0] == level:
            cur = merkle.node_hash(self.stack.pop()[1], cur)
            level += 1
            yield level, (self.size >> level) - 1, cur
        self.stack.append((level, cur))

    def root(self):
        if not self.stack:
            return merkle.EMPTY_ROOT
        acc = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            acc = merkle.node_hash(left, acc)
        return acc


def _node_ranges_q(first, end):
    """One OR of key ranges matching every stored node completed by appending leaves [first, end)."""
    q = Q(pk__in=[])
    level = models.NODE_LEVEL_MIN
    while (end >> level) > 0:
        lo = ((first + 1 + (1 << level) - 1) >> level) - 1  # first k whose last leaf is >= first
        hi = (end >> level) - 1
        if lo <= hi:
            q |= Q(key__gte=node_key(level, lo), key__lte=node_key(level, hi))
        level += 1
    return q


def _extra_nodes_q(size):
    """Nodes that cannot exist in a tree of `size` leaves (or are of a level that is not stored)."""
    low = models.NODE_LEVEL_MIN
    top = max(size.bit_length(), low)
    q = Q(key__lt=node_key(low, 0)) | Q(key__gte=node_key(top, 0))
    for level in range(low, top):
        q |= Q(key__gte=node_key(level, size >> level), key__lt=node_key(level + 1, 0))
    return q


def _chunks(queryset, field, chunk):
    """Keyset pagination over `field`: bounded memory, no long-lived cursor."""
    last = None
    while True:
        qs = queryset if last is None else queryset.filter(**{f"{field}__gt": last})
        rows = list(qs.order_by(field)[:chunk])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


class LogVerifier:
    def __init__(self, key_line, chunk=5000, progress=None):
        self.key = note.parse_verifier_key(key_line)
        self.chunk = chunk
        self.progress = progress or (lambda message: None)
        self.frontier = Frontier()
        self.counts = {"leaves": 0, "nodes": 0, "events": 0, "checkpoints": 0, "cosignatures": 0}
        self._witnesses = {}

    def run(self):
        checkpoints = self._checkpoints()
        pending = next(checkpoints, None)
        pending = self._checkpoints_at(0, pending, checkpoints)
        low = models.NODE_LEVEL_MIN
        leaves = LogLeaf.objects.values_list("index", "leaf", "kind", "hash")
        for rows in _chunks(leaves, "index", self.chunk):
            first, end = rows[0][0], rows[-1][0] + 1
            if first != self.frontier.size:
                raise LogMismatch(f"index {self.frontier.size}", "missing leaf (the indices have a gap)")
            if end - first != len(rows):
                missing = next(i for i, row in enumerate(rows, start=first) if row[0] != i)
                raise LogMismatch(f"index {missing}", "missing leaf (the indices have a gap)")
            nodes = dict(LogNode.objects.filter(_node_ranges_q(first, end)).values_list("key", "hash"))
            events = dict(LogEventData.objects.filter(index__gte=first, index__lt=end).values_list("index", "data_jcs"))
            for index, leaf, kind, stored_hash in rows:
                leaf = bytes(leaf)
                self._check_leaf(index, leaf, kind, events.pop(index, None))
                leaf_hash = merkle.leaf_hash(leaf)
                if stored_hash is None or bytes(stored_hash) != leaf_hash:
                    raise LogMismatch(f"index {index}", "the stored leaf hash is not the hash of the stored leaf")
                for level, k, h in self.frontier.push(leaf_hash):
                    if level < low:
                        continue  # not stored: recomputed from the leaf hashes when needed
                    stored = nodes.get(node_key(level, k))
                    if stored is None or bytes(stored) != h:
                        lo, hi = merkle.node_range(level, k)
                        what = "missing" if stored is None else "differs from the recomputed hash"
                        raise LogMismatch(f"index {lo}", f"stored node (level {level}, k {k}) over [{lo}, {hi}) {what}")
                    self.counts["nodes"] += 1
                pending = self._checkpoints_at(index + 1, pending, checkpoints)
            if events:
                raise LogMismatch(f"index {min(events)}", "event data stored for a leaf that is not an event")
            self.counts["leaves"] = self.frontier.size
            self.progress(f"verified {self.frontier.size} leaves")
        self._check_end(pending)
        return self.counts

    def _check_leaf(self, index, leaf, kind, data_jcs):
        try:
            entry = jcs_loads(leaf)
            canonical = isinstance(entry, dict) and jcs(entry) == leaf
        except (ProtocolError, UnicodeDecodeError, ValueError, TypeError):
            canonical = False
        if not canonical:
            raise LogMismatch(f"index {index}", "the leaf is not the JCS bytes of an entry object")
        if entry.get("type") != kind:
            found = entry.get("type")
            raise LogMismatch(f"index {index}", f"the leaf's type {found!r} is not its stored kind {kind!r}")
        if kind != "event":
            return
        if data_jcs is None:
            raise LogMismatch(f"index {index}", "the event's data is missing")
        raw = data_jcs.encode()
        # Read with RFC 8785's number model (doubles): the 21 digits JCS writes
        # for 1e20 are a double, not an integer outside JCS's domain.
        if not is_jcs(raw):
            raise LogMismatch(f"index {index}", "the event's stored data is not JCS")
        if sha256_hex(raw) != entry.get("data_sha256"):
            raise LogMismatch(f"index {index}", "the event's data does not hash to the leaf's data_sha256")
        self.counts["events"] += 1

    def _checkpoints(self) -> Iterator[tuple]:
        rows = Checkpoint.objects.values_list("size", "root", "note", "id")
        for chunk in _chunks(rows, "size", self.chunk):
            cosigs = {}
            for cp_id, witness_id, line in Cosignature.objects.filter(
                checkpoint_id__in=[row[3] for row in chunk]
            ).values_list("checkpoint_id", "witness_id", "line"):
                cosigs.setdefault(cp_id, []).append((witness_id, line))
            for size, root, text, cp_id in chunk:
                yield size, bytes(root), text, cosigs.get(cp_id, [])

    def _checkpoints_at(self, size, pending, checkpoints):
        """Check every checkpoint of exactly `size` leaves; return the next one."""
        while pending is not None and pending[0] == size:
            self._check_checkpoint(*pending)
            pending = next(checkpoints, None)
        return pending

    def _check_checkpoint(self, size, root, text, cosigs):
        where = f"checkpoint {size}"
        try:
            parsed = note.verify_checkpoint(text, self.key)
        except ProtocolError as exc:
            raise LogMismatch(where, f"signature check failed: {exc.detail}") from None
        if parsed.size != size or parsed.root != root:
            raise LogMismatch(where, "the signed note and the stored size/root disagree")
        if root != self.frontier.root():
            raise LogMismatch(where, f"root is not the root recomputed from leaves [0, {size})")
        for witness_id, line in cosigs:
            witness = self._witness(witness_id)
            try:
                note.verify_cosignature(line, parsed.body, witness.name, bytes(witness.public_key))
            except ProtocolError as exc:
                raise LogMismatch(where, f"cosignature of {witness.name} does not verify: {exc.detail}") from None
            self.counts["cosignatures"] += 1
        self.counts["checkpoints"] += 1

    def _witness(self, witness_id):
        # Witness keys are few; caching them keeps memory bounded by their number.
        if witness_id not in self._witnesses:
            self._witnesses[witness_id] = WitnessKey.objects.get(id=witness_id)
        return self._witnesses[witness_id]

    def _check_end(self, pending):
        size = self.frontier.size
        if pending is not None:
            raise LogMismatch(f"checkpoint {pending[0]}", f"signed for a size beyond the log's {size} leaves")
        head = LogHead.objects.filter(id=1).values_list("size", flat=True).first() or 0
        if head != size:
            raise LogMismatch(f"index {min(head, size)}", f"the head says {head} leaves but {size} are stored")
        extra = LogNode.objects.filter(_extra_nodes_q(size)).order_by("key").values_list("key", flat=True).first()
        if extra is not None:
            raise LogMismatch(f"index {size}", f"stored node key {extra} lies outside a tree of {size} leaves")
        stray = LogEventData.objects.filter(index__gte=size).values_list("index", flat=True).first()
        if stray is not None:
            raise LogMismatch(f"index {stray}", "event data stored beyond the log")
