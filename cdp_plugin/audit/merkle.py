"""RFC 9162 (Certificate Transparency 2.0) Merkle tree over SHA-256.

Leaves hash as ``SHA256(0x00 || data)`` and interior nodes as
``SHA256(0x01 || left || right)``, so a leaf can never be passed off as a node.
:class:`CompactRange` grows the tree one leaf at a time in O(log n) memory.
Proof verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step,
returning ``False`` rather than raising on any malformed input; proofs are
built from a log's segments by :mod:`cdp_plugin.audit.proofs`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""The root of the empty tree: the hash of the empty string."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of one leaf's input bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node from its children's hashes."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """An append-only Merkle tree that keeps only O(log n) subtree hashes.

    ``_hashes`` holds the roots of the perfect subtrees that make up the tree,
    largest first: one per set bit of ``size``. Appending merges equal-sized
    subtrees like a binary counter carries, so each append costs amortised
    O(1) hashes and ``root()`` costs O(log n).
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """How many leaves have been appended."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf, given as its RFC 9162 leaf hash."""
        hashes = self._hashes
        carry = self._size
        node = leaf_hash
        # Each trailing one bit of the old size is a subtree of the new leaf's height.
        while carry & 1:
            node = hashlib.sha256(b"\x01" + hashes.pop() + node).digest()
            carry >>= 1
        hashes.append(node)
        self._size += 1

    def root(self) -> bytes:
        """The Merkle Tree Hash of every leaf appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        root = self._hashes[-1]
        for subtree in reversed(self._hashes[:-1]):
            root = node_hash(subtree, root)
        return root

    def copy(self) -> CompactRange:
        """An independent copy, e.g. to roll back to after a failed write."""
        clone = CompactRange()
        clone._size = self._size
        clone._hashes = list(self._hashes)
        return clone

    def to_json(self) -> str:
        """The state as JSON: ``{"size": n, "hashes": [hex, ...]}``."""
        return json.dumps({"size": self._size, "hashes": [h.hex() for h in self._hashes]})

    @classmethod
    def from_json(cls, text: str) -> CompactRange:
        """Restore a state written by :meth:`to_json`.

        Raises ``ValueError`` if the text is not such a state, including when the
        number of hashes does not match the size.
        """
        try:
            state = json.loads(text)
            size = state["size"]
            hashes = [bytes.fromhex(h) for h in state["hashes"]]
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError("compact range state is not valid JSON of the expected shape") from exc
        if type(size) is not int or size < 0 or len(hashes) != size.bit_count():
            raise ValueError("compact range state: hash count does not match size")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("compact range state: hashes must be 32 bytes")
        restored = cls()
        restored._size = size
        restored._hashes = hashes
        return restored


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` with ``leaf_hash`` is in the tree ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows tree ``root1`` (``size1`` leaves) is a prefix of ``root2``."""
    if not 0 <= size1 <= size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        # A power-of-two first tree is itself a subtree of the second: its root starts the path.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
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
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0
