"""Inclusion and consistency proofs for an audit log, as JSON documents anyone can check.

A proof is built from the log directory alone (no key needed): the segments
are streamed once and only the O(log n) subtree roots the proof needs are
kept. Checking a proof needs only the published verifier key: the signed
checkpoint it carries fixes the tree size and root, and the RFC 9162 path
links the record (or the older tree) to that root. Document formats are in
``audits/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from cdp_plugin.audit.checkpoints import verifier_for_note
from cdp_plugin.audit.layout import CHECKPOINTS_LOG, list_segments, read_checkpoint_log
from cdp_plugin.audit.merkle import (
    HASH_SIZE,
    CompactRange,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteError,
    NoteVerifier,
    note_text,
    parse_checkpoint,
)

_Range = tuple[int, int]  # leaves lo (inclusive) to hi (exclusive)


class ProofError(NoteError):
    """A proof cannot be built from the log, or a proof document does not verify."""


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[_Range]:
    """The leaf ranges whose subtree roots form the audit path of ``index`` (RFC 9162 §2.1.3.1).

    Raises ``ValueError`` unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ValueError("inclusion proof needs 0 <= index < size")

    def path(m: int, lo: int, hi: int) -> list[_Range]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), (lo + k, hi)]
        return [*path(m - k, lo + k, hi), (lo, lo + k)]

    return path(index, 0, size)


def consistency_ranges(old: int, new: int) -> list[_Range]:
    """The leaf ranges whose subtree roots form the proof from ``old`` to ``new`` (§2.1.4.1).

    Empty when ``old`` is 0 or equals ``new``. Raises ``ValueError`` unless
    ``0 <= old <= new``.
    """
    if not 0 <= old <= new:
        raise ValueError("consistency proof needs 0 <= old <= new")
    if old in (0, new):
        return []

    def subproof(m: int, lo: int, hi: int, whole: bool) -> list[_Range]:
        if m == hi - lo:
            return [] if whole else [(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*subproof(m, lo, lo + k, whole), (lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), (lo, lo + k)]

    return subproof(old, 0, new, True)


def range_roots(
    leaves: Iterable[bytes], size: int, ranges: Sequence[_Range], prefixes: Iterable[int] = ()
) -> tuple[dict[_Range, bytes], dict[int, bytes]]:
    """Stream the first ``size`` leaf hashes once; the root of each range and of each prefix.

    ``ranges`` must not overlap and must lie within ``size``; ``prefixes`` are
    tree sizes up to ``size`` whose roots are wanted too. Raises ``ValueError``
    if fewer than ``size`` leaves come.
    """
    pending = sorted(ranges)
    wanted = set(prefixes)
    roots: dict[_Range, bytes] = {}
    prefix_roots: dict[int, bytes] = {}
    tree, current = CompactRange(), CompactRange()
    if 0 in wanted:
        prefix_roots[0] = tree.root()
    position = 0
    for leaf in islice(leaves, size):
        if pending and pending[0][0] <= position:
            current.append(leaf)
            if position + 1 == pending[0][1]:
                roots[pending.pop(0)] = current.root()
                current = CompactRange()
        tree.append(leaf)
        position += 1
        if position in wanted:
            prefix_roots[position] = tree.root()
    if position < size:
        raise ValueError(f"the log holds {position} records, fewer than {size}")
    return roots, prefix_roots


def _record_lines(log_dir: Path) -> Iterator[bytes]:
    """Every record line of the log in order, without its newline; JSON is not parsed."""
    try:
        segments = list_segments(log_dir)
    except ValueError as exc:
        raise ProofError(f"{log_dir.name}: {exc}") from None
    for path in segments:
        with path.open("rb", buffering=1 << 20) as stream:
            for number, raw in enumerate(stream, 1):
                if not raw.endswith(b"\n"):
                    raise ProofError(f"{path.name} line {number}: incomplete line (no newline)")
                yield raw[:-1]


def _checkpoint_notes(log_dir: Path) -> list[tuple[str, Checkpoint]]:
    """The notes of ``checkpoints.log`` and what they claim, unverified (the checker verifies)."""
    notes = read_checkpoint_log(log_dir / CHECKPOINTS_LOG)[0]
    found = []
    for number, raw in enumerate(notes, 1):
        try:
            note = raw.decode()
            found.append((note, parse_checkpoint(note_text(note))))
        except (NoteError, UnicodeDecodeError):
            raise ProofError(f"checkpoint {number} in {CHECKPOINTS_LOG} is malformed") from None
    if not found:
        raise ProofError(f"{log_dir.name}: {CHECKPOINTS_LOG} is missing or empty")
    return found


def _mismatch(checkpoint: Checkpoint) -> ProofError:
    return ProofError(
        f"the records do not match the signed checkpoint of size {checkpoint.size}; "
        "run 'cdp-plugin audit verify' on the log"
    )


def _checkpoint_json(note: str, checkpoint: Checkpoint) -> dict[str, Any]:
    return {"size": checkpoint.size, "root": checkpoint.root.hex(), "checkpoint": note}


def build_inclusion_proof(log_dir: Path, index: int) -> dict[str, Any]:
    """The proof that record ``index`` is in the tree of the log's latest signed checkpoint.

    The document holds ``origin``, ``index``, ``tree_size``, ``leaf`` (the
    record's line), ``leaf_hash`` and ``proof`` (hex) and ``checkpoint`` (the
    signed note). Raises :class:`ProofError` if the record is not covered by a
    checkpoint yet, or the records do not match the checkpoint; ``OSError`` if
    a file cannot be read.
    """
    note, checkpoint = _checkpoint_notes(log_dir)[-1]
    if not 0 <= index < checkpoint.size:
        raise ProofError(
            f"record {index} is not covered by the latest signed checkpoint "
            f"(size {checkpoint.size})"
        )
    ranges = inclusion_ranges(index, checkpoint.size)
    line = b""

    def leaves() -> Iterator[bytes]:
        nonlocal line
        for position, raw in enumerate(_record_lines(log_dir)):
            if position == index:
                line = raw
            yield leaf_hash(raw)

    try:
        roots, prefixes = range_roots(leaves(), checkpoint.size, ranges, [checkpoint.size])
    except ProofError:
        raise
    except ValueError as exc:  # fewer records than the checkpoint covers
        raise _mismatch(checkpoint) from exc
    if prefixes[checkpoint.size] != checkpoint.root:
        raise _mismatch(checkpoint)
    try:
        text = line.decode()
    except UnicodeDecodeError:  # the root matched, so the writer wrote it so: report, not prove
        raise ProofError(f"record {index} is not valid UTF-8") from None
    return {
        "origin": checkpoint.origin,
        "index": index,
        "tree_size": checkpoint.size,
        "leaf": text,
        "leaf_hash": leaf_hash(line).hex(),
        "proof": [roots[r].hex() for r in ranges],
        "checkpoint": note,
    }


def build_consistency_proof(log_dir: Path, old: int, new: int) -> dict[str, Any]:
    """The proof that the log's signed tree of ``old`` records is a prefix of the one of ``new``.

    Both sizes must be sizes of checkpoints in ``checkpoints.log``. The
    document holds ``origin``, ``old`` and ``new`` (each ``size``, ``root``
    in hex and the signed ``checkpoint`` note) and ``proof`` (hex). Raises
    :class:`ProofError` if a size has no checkpoint, ``old > new``, or the
    records do not match the checkpoints; ``OSError`` if a file cannot be read.
    """
    by_size: dict[int, tuple[str, Checkpoint]] = {}
    for note, checkpoint in _checkpoint_notes(log_dir):
        by_size.setdefault(checkpoint.size, (note, checkpoint))
    for size in (old, new):
        if size not in by_size:
            raise ProofError(f"no signed checkpoint of size {size} in {CHECKPOINTS_LOG}")
    if old > new:
        raise ProofError(f"the old size {old} is larger than the new size {new}")
    ranges = consistency_ranges(old, new)
    try:
        roots, prefixes = range_roots(
            (leaf_hash(raw) for raw in _record_lines(log_dir)), new, ranges, [old, new]
        )
    except ProofError:
        raise
    except ValueError as exc:  # fewer records than the checkpoint covers
        raise _mismatch(by_size[new][1]) from exc
    for size in (old, new):
        if prefixes[size] != by_size[size][1].root:
            raise _mismatch(by_size[size][1])
    return {
        "origin": by_size[new][1].origin,
        "old": _checkpoint_json(*by_size[old]),
        "new": _checkpoint_json(*by_size[new]),
        "proof": [roots[r].hex() for r in ranges],
    }


def _field(document: Mapping[str, Any], key: str, kind: type, where: str = "") -> Any:
    value = document.get(key) if isinstance(document, Mapping) else None
    if type(value) is not kind:
        raise ProofError(f"proof field {where}{key} must be a {kind.__name__}")
    return value


def _hash(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 2 * HASH_SIZE:
        raise ProofError(f"{what} must be {2 * HASH_SIZE} hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ProofError(f"{what} must be {2 * HASH_SIZE} hex digits") from None


def _verified_checkpoint(
    note: str, verifiers: Sequence[NoteVerifier], origin: str, where: str
) -> Checkpoint:
    """The checkpoint in ``note`` if one of ``verifiers`` signed it and it has ``origin``."""
    verifier = verifier_for_note(note, verifiers)
    if verifier is None:
        raise ProofError(f"{where}: no signature by any of the given keys")
    try:
        checkpoint = parse_checkpoint(verifier.verify(note))
    except NoteError as exc:
        raise ProofError(f"{where}: {exc}") from None
    if checkpoint.origin != origin:
        raise ProofError(f"{where}: origin is not {origin!r}")
    return checkpoint


def check_proof(document: Mapping[str, Any], verifiers: Sequence[NoteVerifier]) -> str:
    """Check a document from :func:`build_inclusion_proof` or :func:`build_consistency_proof`.

    Uses only the verifier keys: each checkpoint's signature, that its size and
    root are the ones the proof states, and the RFC 9162 proof; an inclusion
    proof's leaf hash is recomputed from ``leaf``. Returns a one-line summary
    of what was proved. Raises :class:`ProofError` saying what does not hold.
    """
    if not isinstance(document, Mapping):
        raise ProofError("a proof must be a JSON object")
    origin = _field(document, "origin", str)
    proof = _field(document, "proof", list)
    path = [_hash(node, f"proof[{n}]") for n, node in enumerate(proof)]
    if "index" in document:
        return _check_inclusion(document, verifiers, origin, path)
    if "old" in document and "new" in document:
        return _check_consistency(document, verifiers, origin, path)
    raise ProofError("not a proof: it needs 'index' (inclusion) or 'old' and 'new' (consistency)")


def _check_inclusion(
    document: Mapping[str, Any], verifiers: Sequence[NoteVerifier], origin: str, path: list[bytes]
) -> str:
    index = _field(document, "index", int)
    size = _field(document, "tree_size", int)
    leaf = _field(document, "leaf", str)
    stated = _hash(document.get("leaf_hash"), "leaf_hash")
    note = _field(document, "checkpoint", str)
    checkpoint = _verified_checkpoint(note, verifiers, origin, "checkpoint")
    if checkpoint.size != size:
        raise ProofError(f"checkpoint: size is {checkpoint.size}, not tree_size {size}")
    try:
        data = leaf.encode()
        seq = json.loads(leaf).get("seq")
    except (ValueError, AttributeError):
        raise ProofError("leaf is not a JSON object in UTF-8") from None
    if seq != index or type(seq) is not int:
        raise ProofError(f"leaf: seq is not the index {index}")
    computed = leaf_hash(data)
    if computed != stated:
        raise ProofError("leaf_hash is not the hash of leaf")
    if not verify_inclusion(index, size, computed, path, checkpoint.root):
        raise ProofError(f"the proof does not lead from record {index} to the checkpoint's root")
    return f"record {index} is in {origin} at tree size {size}"


def _check_consistency(
    document: Mapping[str, Any], verifiers: Sequence[NoteVerifier], origin: str, path: list[bytes]
) -> str:
    trees = []
    for name in ("old", "new"):
        part = _field(document, name, dict)
        size = _field(part, "size", int, f"{name}.")
        root = _hash(part.get("root"), f"{name}.root")
        note = _field(part, "checkpoint", str, f"{name}.")
        checkpoint = _verified_checkpoint(note, verifiers, origin, f"{name}.checkpoint")
        if (checkpoint.size, checkpoint.root) != (size, root):
            raise ProofError(f"{name}.checkpoint: size or root differs from {name}.size/root")
        trees.append(checkpoint)
    old, new = trees
    if not verify_consistency(old.size, new.size, old.root, new.root, path):
        raise ProofError(
            f"the proof does not show tree size {old.size} is a prefix of tree size {new.size}"
        )
    return f"{origin} at tree size {old.size} is a prefix of tree size {new.size}"
