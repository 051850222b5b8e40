"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, SHA-256 (LOG.md section 1).

Two audiences:

- verifiers (`verify_inclusion`, `verify_consistency`) follow RFC 9162 sections
  2.1.3.2 and 2.1.4.2 literally, insist on the exact proof length, and answer
  False for any bad data; they raise only when handed the wrong types, which is
  a programming error rather than an attack;
- the log's storage. A database cannot recompute a million-leaf tree per request,
  so it keeps the hash of every *complete, aligned* subtree: node (level, k)
  covers leaves [k * 2**level, (k + 1) * 2**level). Every proof element is the
  hash of a leaf range that splits into O(log n) such nodes, so a proof or a root
  costs one query for O(log n) rows (`*_proof_ranges`, `range_to_perfect_nodes`,
  `proof_from_nodes`, `root_from_nodes`), and an append stores the few nodes the
  new leaf completes (`nodes_completed_by_append`), hashed in a batch by
  `hash_levels` / `hash_append` (what a verifier recomputes to check them).

The in-memory helpers (`root_from_leaf_hashes`, `inclusion_proof`,
`consistency_proof`) are for tests, tools and small trees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, k): leaves [k << level, (k + 1) << level)
Range = tuple[int, int]  # [start, end)
GetNode = Callable[[int, int], bytes]
GetNodesBulk = Callable[[list[Node]], Mapping[Node, bytes]]


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): where MTH splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int")


# --- in memory -------------------------------------------------------------


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, in O(n) time and O(log n) memory.

    Builds complete subtrees like a binary counter, then folds the leftover
    (decreasing) subtrees from the right, which is exactly where MTH splits.
    """
    stack: list[tuple[int, bytes]] = []  # (size, hash), sizes strictly decreasing
    for h in leaf_hashes:
        size, cur = 1, h
        while stack and stack[-1][0] == size:
            _, left = stack.pop()
            cur = node_hash(left, cur)
            size *= 2
        stack.append((size, cur))
    if not stack:
        return EMPTY_ROOT
    acc = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_proof_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose MTHs form the inclusion proof, leaf upward (RFC 9162 2.1.3.1)."""
    _check_int("index", index)
    _check_int("size", size)
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(m: int, n: int) -> list[Range]:
    """The leaf ranges whose MTHs form the consistency proof from m to n (RFC 9162 2.1.4.1).

    Empty when m == n or m == 0 (nothing to prove against the empty tree).
    """
    _check_int("m", m)
    _check_int("n", n)
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from size {m} to size {n}")
    if m == 0 or m == n:
        return []
    ranges: list[Range] = []
    lo, hi = 0, n
    complete = True  # SUBPROOF's flag: is the old tree a complete subtree here?
    while m != hi:
        k = _split(hi - lo)
        if m - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _mth(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    return root_from_leaf_hashes(leaf_hashes[start:end])


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if size > len(leaf_hashes):
        raise ValueError("size exceeds the number of leaves")
    return [_mth(leaf_hashes, s, e) for s, e in inclusion_proof_ranges(index, size)]


def consistency_proof(m: int, n: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if n > len(leaf_hashes):
        raise ValueError("n exceeds the number of leaves")
    return [_mth(leaf_hashes, s, e) for s, e in consistency_proof_ranges(m, n)]


# --- verification (RFC 9162) ---------------------------------------------------


def inclusion_proof_length(index: int, size: int) -> int:
    """len(inclusion_proof_ranges(index, size)) in O(1): the levels below the
    point where the leaf's path leaves the tree's right edge, plus the complete
    subtrees to its left above it (as in transparency-dev/merkle)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(m: int, n: int) -> int:
    """len(consistency_proof_ranges(m, n)) in O(1), for 0 < m < n."""
    shift = (m & -m).bit_length() - 1  # trailing zeros of m
    starts_with_old_root = m == 1 << shift  # then root_m itself is the first hash
    return inclusion_proof_length(m - 1, n) - shift + (0 if starts_with_old_root else 1)


def _check_hash_arg(name: str, value: object) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be bytes")


def _check_proof_arg(proof: object) -> None:
    if isinstance(proof, (bytes, bytearray, str)) or not isinstance(proof, Sequence):
        raise TypeError("proof must be a sequence of bytes")
    for p in proof:
        _check_hash_arg("proof element", p)


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, with the exact proof length required."""
    _check_int("index", index)
    _check_int("size", size)
    _check_hash_arg("leaf_hash", leaf_hash)
    _check_hash_arg("root", root)
    _check_proof_arg(proof)
    if not 0 <= index < size:
        return False
    if any(len(p) != HASH_SIZE for p in proof) or len(leaf_hash) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    if len(proof) != inclusion_proof_length(index, size):
        return False
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2, with the exact proof length required.

    Edge cases (as in transparency-dev/merkle): m == n needs an empty proof and
    equal roots; m == 0 needs an empty proof, and root_m must be the empty
    tree's hash since no other root of size 0 exists.
    """
    _check_int("m", m)
    _check_int("n", n)
    _check_hash_arg("root_m", root_m)
    _check_hash_arg("root_n", root_n)
    _check_proof_arg(proof)
    if not 0 <= m <= n:
        return False
    if len(root_m) != HASH_SIZE or len(root_n) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return False
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    if len(proof) != consistency_proof_length(m, n):
        return False
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: its root is the first element
        path.insert(0, bytes(root_m))
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root_m and sr == root_n


# --- storage of complete aligned subtrees -------------------------------------


def node_range(level: int, k: int) -> Range:
    """The leaves [start, end) that stored node (level, k) covers."""
    return k << level, (k + 1) << level


def node_children(level: int, k: int) -> tuple[Node, Node]:
    if level < 1:
        raise ValueError("a leaf has no children")
    return (level - 1, 2 * k), (level - 1, 2 * k + 1)


def range_to_perfect_nodes(start: int, end: int) -> list[Node]:
    """Split [start, end) into stored nodes, left to right, whose right fold is MTH.

    MTH splits a range at the largest power of two below its length; when that
    left part is an aligned complete subtree at every step, the range is the
    left part plus a (recursively) decomposable rest, so the stored hashes
    combine as node_hash(a, node_hash(b, node_hash(c, d))). Every range in an
    RFC 6962 proof or root has that shape (it is a subtree of the whole tree);
    any other range raises ValueError because its MTH is not made of stored nodes.
    """
    _check_int("start", start)
    _check_int("end", end)
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    nodes: list[Node] = []
    while start < end:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            nodes.append((n.bit_length() - 1, start // n))
            break
        k = _split(n) if n & (n - 1) else n // 2
        if start % k:
            raise ValueError(f"range [{start}, {end}) is not a subtree made of aligned complete subtrees")
        nodes.append((k.bit_length() - 1, start // k))
        start += k
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def hash_range(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH(leaves[start:end]) from stored nodes, one `get_node(level, k)` call per node."""
    return _fold([get_node(level, k) for level, k in range_to_perfect_nodes(start, end)])


def nodes_for_ranges(ranges: Iterable[Range]) -> list[Node]:
    """Every stored node needed for these ranges, each once, in first-use order."""
    seen: dict[Node, None] = {}
    for start, end in ranges:
        for node in range_to_perfect_nodes(start, end):
            seen.setdefault(node, None)
    return list(seen)


def proof_from_nodes(ranges: Sequence[Range], get_nodes_bulk: GetNodesBulk) -> list[bytes]:
    """Assemble a proof from one bulk fetch of the O(log n) nodes its ranges need.

    `get_nodes_bulk(list of (level, k))` returns a mapping (level, k) -> hash;
    a missing node is a storage fault and raises KeyError.
    """
    per_range = [range_to_perfect_nodes(s, e) for s, e in ranges]
    wanted = list(dict.fromkeys(node for nodes in per_range for node in nodes))
    found = get_nodes_bulk(wanted) if wanted else {}
    missing = [node for node in wanted if node not in found]
    if missing:
        raise KeyError(f"stored Merkle nodes missing: {missing[:5]}")
    return [_fold([found[node] for node in nodes]) for nodes in per_range]


def root_from_nodes(size: int, get_nodes_bulk: GetNodesBulk) -> bytes:
    """The tree head at `size` from stored nodes: MTH(leaves[0:size])."""
    if size == 0:
        return EMPTY_ROOT
    return proof_from_nodes([(0, size)], get_nodes_bulk)[0]


def nodes_completed_by_append(leaf_index: int) -> list[Node]:
    """The stored nodes that exist once leaf `leaf_index` is appended, lowest first.

    Level 0 is the leaf hash itself; node (level, k) with level >= 1 becomes
    complete when (leaf_index + 1) is a multiple of 2**level, and its hash is
    node_hash of its two children (`node_children`), both already stored.
    """
    _check_int("leaf_index", leaf_index)
    if leaf_index < 0:
        raise ValueError("leaf_index must be >= 0")
    count = leaf_index + 1
    nodes = [(0, leaf_index)]
    level = 1
    while count % (1 << level) == 0:
        nodes.append((level, (count >> level) - 1))
        level += 1
    return nodes


# --- appending ---------------------------------------------------------------
# What a log computes when it appends leaves, and what a third-party verifier
# recomputes to check a log's stored nodes: pure, no database.


def leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    """SHA-256(0x00 || leaf) of each leaf (LOG.md section 1); `leaf_hash` over a batch, without its calls."""
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + leaf).digest() for leaf in leaves]


def hash_levels(first: int, hashes: Sequence[bytes], left: Mapping[int, bytes]) -> list[tuple[int, list[bytes]]]:
    """Every node that appending leaves with these leaf `hashes` at index `first` completes.

    `left` maps a level to the hash of the complete node just left of the new
    leaves at that level: the right edge of the tree of size `first`
    (range_to_perfect_nodes(0, first)), needed at the levels whose bit is set
    in `first`. Returns [(k0, hashes), ...] for levels 0, 1, ...: the new nodes
    (level, k0 + i), level 0 being the leaf hashes; exactly the nodes
    `nodes_completed_by_append` names for each new index.
    """
    sha256 = hashlib.sha256
    current = hashes  # level 0 as given (no copy: an append may pass a million hashes)
    levels = [(first, current)]
    start, level = first, 0
    while True:
        if start & 1:  # the first new node is a right child: its sibling is on the right edge
            current = [left[level], *current]
            start -= 1
        if len(current) < 2:
            return levels
        current = [sha256(b"\x01" + a + b).digest() for a, b in zip(current[0::2], current[1::2], strict=False)]
        start >>= 1
        level += 1
        levels.append((start, current))


def hash_append(first: int, leaves: Sequence[bytes], left: Mapping[int, bytes]) -> list[tuple[int, list[bytes]]]:
    """hash_levels of the leaves' hashes: every hash an append of `leaves` at index `first` computes."""
    return hash_levels(first, leaf_hashes(leaves), left)
