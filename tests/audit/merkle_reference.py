"""A reference RFC 9162 Merkle tree over every leaf hash held in memory.

The definitions of RFC 9162 §2.1.1 (tree hash), §2.1.3.1 (inclusion proof)
and §2.1.4.1 (consistency proof) written as directly as possible, for
published test vectors and to check the streaming code of
:mod:`cdp_plugin.audit.merkle` and :mod:`cdp_plugin.audit.proofs` against.
Raises ``ValueError`` for out-of-range sizes and indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdp_plugin.audit.merkle import EMPTY_ROOT, node_hash


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash (MTH) of the given leaf hashes, in order.

    Pairing neighbours level by level and promoting an odd last node gives the
    same tree as the RFC's recursive split at the largest power of two.
    """
    level = list(hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _range_root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    return root_from_leaf_hashes(hashes[lo:hi])


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    Raises ``ValueError`` unless ``0 <= index < size <= len(leaf_hashes)``.
    """
    if not 0 <= index < size <= len(leaf_hashes):
        raise ValueError("inclusion proof needs 0 <= index < size <= number of leaves")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), _range_root(leaf_hashes, lo + k, hi)]
        return [*path(m - k, lo + k, hi), _range_root(leaf_hashes, lo, lo + k)]

    return path(index, 0, size)


def consistency_proof(size1: int, size2: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of ``size1`` leaves is a prefix of the one of ``size2``.

    Empty when ``size1`` is 0 or equals ``size2``. Raises ``ValueError`` unless
    ``0 <= size1 <= size2 <= len(leaf_hashes)``.
    """
    if not 0 <= size1 <= size2 <= len(leaf_hashes):
        raise ValueError("consistency proof needs 0 <= size1 <= size2 <= number of leaves")
    if size1 in (0, size2):
        return []

    def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if whole else [_range_root(leaf_hashes, lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, whole), _range_root(leaf_hashes, lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), _range_root(leaf_hashes, lo, lo + k)]

    return subproof(size1, 0, size2, True)
