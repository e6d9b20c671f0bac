"""RFC 9162 Merkle tree: published vectors, the compact range, and proof properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp_plugin.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.audit.merkle_reference import (
    consistency_proof,
    inclusion_proof,
    root_from_leaf_hashes,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    path = VECTORS / "merkle_rfc9162.json"
    if not path.is_file():
        pytest.skip(f"shared test vectors not found at {path}")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def vector_leaves(vectors: dict[str, Any]) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(data)) for data in vectors["leaves"]]


def _root(vectors: dict[str, Any], size: int) -> bytes:
    return bytes.fromhex(vectors["roots_by_size"][str(size)])


def test_hasher_matches_vectors(vectors: dict[str, Any]) -> None:
    assert leaf_hash(b"L123456").hex() == vectors["hasher"]["leaf_of_ascii_L123456"]
    assert node_hash(b"N123", b"N456").hex() == vectors["hasher"]["node_of_ascii_N123_N456"]
    assert _root(vectors, 0) == EMPTY_ROOT


def test_roots_match_vectors(vectors: dict[str, Any], vector_leaves: list[bytes]) -> None:
    compact = CompactRange()
    assert compact.root() == _root(vectors, 0)
    for size in range(1, len(vector_leaves) + 1):
        compact.append(vector_leaves[size - 1])
        assert root_from_leaf_hashes(vector_leaves[:size]) == _root(vectors, size)
        assert compact.root() == _root(vectors, size)


def test_inclusion_proofs_match_vectors(
    vectors: dict[str, Any], vector_leaves: list[bytes]
) -> None:
    for case in vectors["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        expected = [bytes.fromhex(h) for h in case["proof"]]
        assert inclusion_proof(index, size, vector_leaves) == expected
        assert verify_inclusion(index, size, vector_leaves[index], expected, _root(vectors, size))
        assert not verify_inclusion(index, size, vector_leaves[index], expected, _root(vectors, 7))


def test_consistency_proofs_match_vectors(
    vectors: dict[str, Any], vector_leaves: list[bytes]
) -> None:
    for case in vectors["consistency_proofs"]:
        size1, size2 = case["size1"], case["size2"]
        expected = [bytes.fromhex(h) for h in case["proof"]]
        assert consistency_proof(size1, size2, vector_leaves) == expected
        root1, root2 = _root(vectors, size1), _root(vectors, size2)
        assert verify_consistency(size1, size2, root1, root2, expected)
        assert not verify_consistency(size1, size2, root2, root1, expected)


LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(301)]


def test_compact_range_equals_mth_for_sizes_0_to_300() -> None:
    compact = CompactRange()
    for size in range(301):
        assert compact.size == size
        assert compact.root() == root_from_leaf_hashes(LEAVES[:size]), size
        compact.append(LEAVES[size])


def test_compact_range_state_round_trips() -> None:
    compact = CompactRange()
    for leaf in LEAVES[:77]:
        compact.append(leaf)
    restored = CompactRange.from_json(compact.to_json())
    assert (restored.size, restored.root()) == (77, compact.root())
    restored.append(LEAVES[77])
    assert restored.root() == root_from_leaf_hashes(LEAVES[:78])
    assert compact.size == 77  # the restored copy is independent


@pytest.mark.parametrize(
    "state",
    [
        "not json",
        '{"size": 3, "hashes": []}',
        '{"size": -1, "hashes": []}',
        '{"size": 1, "hashes": ["abcd"]}',
        '{"hashes": []}',
    ],
)
def test_compact_range_rejects_bad_state(state: str) -> None:
    with pytest.raises(ValueError):
        CompactRange.from_json(state)


def _flip(proof: list[bytes], element: int, byte: int, bit: int) -> list[bytes]:
    flipped = bytearray(proof[element])
    flipped[byte] ^= 1 << bit
    return [*proof[:element], bytes(flipped), *proof[element + 1 :]]


@given(st.data(), st.integers(1, 300))
def test_random_inclusion_proofs_verify_and_a_flipped_byte_fails(
    data: st.DataObject, size: int
) -> None:
    index = data.draw(st.integers(0, size - 1))
    root = root_from_leaf_hashes(LEAVES[:size])
    proof = inclusion_proof(index, size, LEAVES)
    assert verify_inclusion(index, size, LEAVES[index], proof, root)
    assert not verify_inclusion(index, size, LEAVES[index], [*proof, root], root)
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        byte, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
        bad = _flip(proof, element, byte, bit)
        assert not verify_inclusion(index, size, LEAVES[index], bad, root)
        assert not verify_inclusion(index, size, LEAVES[index], proof[:-1], root)


@given(st.data(), st.integers(1, 300))
def test_random_consistency_proofs_verify_and_a_flipped_byte_fails(
    data: st.DataObject, size2: int
) -> None:
    size1 = data.draw(st.integers(0, size2))
    root1, root2 = root_from_leaf_hashes(LEAVES[:size1]), root_from_leaf_hashes(LEAVES[:size2])
    proof = consistency_proof(size1, size2, LEAVES)
    assert verify_consistency(size1, size2, root1, root2, proof)
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        byte, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
        assert not verify_consistency(size1, size2, root1, root2, _flip(proof, element, byte, bit))
        assert not verify_consistency(size1, size2, root1, root2, [*proof, root1])


def test_proof_arguments_out_of_range() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(5, 5, LEAVES)
    with pytest.raises(ValueError):
        consistency_proof(4, 3, LEAVES)
    assert not verify_inclusion(3, 3, LEAVES[3], [], EMPTY_ROOT)
    root4 = root_from_leaf_hashes(LEAVES[:4])  # a proof in a smaller tree, claimed for a larger
    assert not verify_inclusion(0, 8, LEAVES[0], inclusion_proof(0, 4, LEAVES), root4)
    assert not verify_consistency(4, 3, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 9, EMPTY_ROOT, root_from_leaf_hashes(LEAVES[:9]), [])
    assert not verify_consistency(0, 9, LEAVES[0], root_from_leaf_hashes(LEAVES[:9]), [])
    assert not verify_consistency(3, 9, EMPTY_ROOT, EMPTY_ROOT, [])
