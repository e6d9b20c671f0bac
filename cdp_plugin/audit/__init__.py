"""A tamper-evident audit log: JSON lines in an RFC 9162 Merkle tree, with C2SP checkpoints.

:class:`AuditLog` writes records and signs checkpoints of the tree with a
:class:`NoteSigner`; :func:`verify_log` rechecks a log directory with the
matching :class:`NoteVerifier`; :mod:`cdp_plugin.audit.proofs` builds and checks
inclusion and consistency proofs. ``audits/README.md`` documents the layout.
"""

from __future__ import annotations

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    NoteVerifier,
    generate_signer_key,
    verifier_key_for,
)
from cdp_plugin.audit.proofs import (
    ProofError,
    build_consistency_proof,
    build_inclusion_proof,
    check_proof,
)
from cdp_plugin.audit.refusal import AuditLogRefused
from cdp_plugin.audit.verify import VerifyReport, verify_directory, verify_log

__all__ = [
    "AuditLog",
    "AuditLogRefused",
    "Checkpoint",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "VerifyReport",
    "build_consistency_proof",
    "build_inclusion_proof",
    "check_proof",
    "generate_signer_key",
    "verifier_key_for",
    "verify_directory",
    "verify_log",
]
