"""Typed audit records: one frozen dataclass per record kind the plugin writes.

Each class's docstring says what its record proves; ``audits/README.md``
lists every kind with its fields. ``record.as_dict()`` is the JSON-ready dict
the audit log stores (before it adds ``seq`` and ``ts``). :data:`REGISTRY`
maps each kind to its class; :func:`record_from_mapping` reads a record dict
back into its class and raises :class:`AuditError` for a kind it does not
know or a field that does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cdp_plugin.audit.records.base import AuditRecord
from cdp_plugin.audit.records.callbacks import (
    OutboxAttempt,
    OutboxDeadLettered,
    OutboxDelivered,
    OutboxOutcome,
    OutboxQueued,
    OutboxRetry,
    SubjectErased,
    SubjectExported,
    SubjectScrubbed,
)
from cdp_plugin.audit.records.consent import (
    ActivationChecked,
    ConsentRecorded,
    FrequencyCapsStored,
    OptinCancelled,
    OptinConfirmed,
    OptinRequested,
    PreferencesReceived,
    PurposeChange,
    ReconsentFound,
)
from cdp_plugin.audit.records.deliveries import (
    DeliveryAttempt,
    DeliveryCancelled,
    DeliveryDeadLettered,
    DeliveryDelivered,
    DeliveryOutcome,
    DeliveryQueued,
    DeliveryRequeued,
    DeliveryRetry,
)
from cdp_plugin.audit.records.events import (
    EventDecision,
    EventDuplicate,
    EventInvalid,
    PluginFailed,
    QuarantinePurged,
    QuarantineReleased,
    SegmentChanged,
    SegmentMove,
)
from cdp_plugin.audit.records.experiments import (
    ExperimentAssigned,
    ExperimentConverted,
    ExperimentExposed,
)
from cdp_plugin.audit.records.lifecycle import (
    AuditRepair,
    KeysRotated,
    RetentionSwept,
    RulesChanged,
    RulesLoaded,
)
from cdp_plugin.errors import AuditError

RECORD_TYPES: tuple[type[AuditRecord], ...] = (
    RulesLoaded, RulesChanged, EventDecision, EventInvalid, EventDuplicate, PluginFailed,
    SegmentChanged, QuarantineReleased, QuarantinePurged, ConsentRecorded, ReconsentFound,
    ActivationChecked, PreferencesReceived, FrequencyCapsStored, OptinRequested, OptinCancelled,
    OptinConfirmed,
    SubjectExported, SubjectErased, SubjectScrubbed, OutboxQueued, OutboxAttempt,
    OutboxDelivered, OutboxRetry, OutboxDeadLettered, DeliveryQueued, DeliveryAttempt,
    DeliveryDelivered, DeliveryRetry, DeliveryDeadLettered, DeliveryCancelled, DeliveryRequeued,
    RetentionSwept, KeysRotated, AuditRepair, ExperimentAssigned, ExperimentExposed,
    ExperimentConverted,
)

REGISTRY: Mapping[str, type[AuditRecord]] = MappingProxyType(
    {record_type.kind: record_type for record_type in RECORD_TYPES})
"""Every record kind the plugin writes, mapped to its class."""

if len(REGISTRY) != len(RECORD_TYPES):  # pragma: no cover - caught by the tests at once
    raise RuntimeError("two audit record classes share a kind")


def record_from_mapping(data: Mapping[str, Any]) -> AuditRecord:
    """The typed record for a record dict (``kind`` and the class's fields, nothing else).

    Raises :class:`AuditError` for a kind not in :data:`REGISTRY`, or a
    missing, unexpected or mistyped field; the message names the kind and
    the field, never a value.
    """
    kind = data.get("kind")
    record_type = REGISTRY.get(kind) if isinstance(kind, str) else None
    if record_type is None:
        raise AuditError(f"unknown audit record kind {kind!r}: add a record class for it "
                         "to cdp_plugin.audit.records")
    return record_type.from_dict(data)


__all__ = [
    "RECORD_TYPES", "REGISTRY", "ActivationChecked", "AuditRecord", "AuditRepair",
    "ConsentRecorded", "DeliveryAttempt", "DeliveryCancelled", "DeliveryDeadLettered",
    "DeliveryDelivered", "DeliveryOutcome", "DeliveryQueued", "DeliveryRequeued", "DeliveryRetry",
    "EventDecision", "EventDuplicate", "EventInvalid", "ExperimentAssigned",
    "ExperimentConverted", "ExperimentExposed", "FrequencyCapsStored",
    "KeysRotated", "OptinCancelled", "OptinConfirmed", "OptinRequested", "OutboxAttempt",
    "OutboxDeadLettered", "OutboxDelivered", "OutboxOutcome", "OutboxQueued", "OutboxRetry",
    "PluginFailed", "PreferencesReceived", "PurposeChange", "QuarantinePurged",
    "QuarantineReleased", "ReconsentFound", "RetentionSwept", "RulesChanged", "RulesLoaded",
    "SegmentChanged", "SegmentMove", "SubjectErased", "SubjectExported", "SubjectScrubbed",
    "record_from_mapping",
]
