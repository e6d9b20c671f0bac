"""Access and erasure requests: everything held about a subject, and its erasure.

The store holds subjects under keyed pseudonyms only; the raw identifier is
used here to derive the pseudonym (and the keyed hash destinations know the
subject by) and is never stored, audited or logged. What a stage derives
about the subject (segmentation's profile: memberships and features) is the
stage's to export and erase, through ``cdp_export_subject`` and
``cdp_erase_subject``; a blocked stage contributes nothing and its data is
left alone.

Erasure, in one unit of work: a withdrawal of every consent purpose, channel
and topic is appended to the ledger (so nothing captured before it can be
used again, and the ledger keeps its pseudonymous evidence); the subject's
data keys are deleted (crypto-shredding: every ``enc1:`` value of the
subject, wherever a copy went, stops decrypting); the preferences,
quarantined events (raw events), recorded sends, double opt-in requests and
experiment rows (arm, exposure, conversion) are deleted, and each stage
deletes what it holds (``cdp_erase_subject``; segmentation: the profile).
Identities an event linked to the subject (the anonymous id of an identify,
an alias's previous id; ``Store.linked_identities``) lose their quarantined
events, data keys and experiment rows too, since those hold what the
subject sent before it was identified, and the links go. Every
configured destination is sent an erasure notice; a ``subject.erased``
audit record and a tombstone pointing at it prove the erasure. Afterwards
the store's files are scrubbed of the deleted rows where the backend allows it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cdp_plugin.audit.records import SubjectErased, SubjectExported, SubjectScrubbed
from cdp_plugin.audit.verify import is_log_directory, list_segments
from cdp_plugin.callbacks.outbox import notice_key, queue_notice
from cdp_plugin.callbacks.preferences import claim_webhook
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.work import unit_of_work
from cdp_plugin.keys.keyring import Keyring
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.stages.consent import RESIDENCY
from cdp_plugin.storage.base import OptInRequest, QuarantinedEvent
from cdp_plugin.storage.records import ExperimentSubject, QueuedDelivery
from cdp_plugin.subject_requests import ERASURE_SOURCE
from cdp_plugin.types import ConsentUpdate


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did. ``scrubbed`` says whether the store's files were
    rewritten without the deleted rows (see ``Store.scrub_deleted``)."""

    subject_key: str
    erased_at: datetime
    deleted: dict[str, int]
    notices: tuple[str, ...]
    tombstone: int
    audit_index: int
    scrubbed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject_key, "erased_at": self.erased_at.isoformat(),
                "deleted": dict(self.deleted), "notices": list(self.notices),
                "tombstone": self.tombstone, "audit_index": self.audit_index,
                "scrubbed": self.scrubbed}


def _optin(request: OptInRequest) -> dict[str, Any]:
    return {"channel": request.channel, "status": request.status,
            "requested_at": request.captured_at.isoformat(),
            "expires_at": request.expires_at.isoformat(),
            "settled_at": request.settled_at.isoformat() if request.settled_at else None}


def _held_event(held: QuarantinedEvent) -> dict[str, Any]:
    """A quarantined event for the subject's own export: as received, with the
    client's messageId (the store keeps only its keyed stand-in apart)."""
    event = json.loads(held.payload).get("event")
    message_id = event.get("messageId") if isinstance(event, dict) else None
    return {"message_id": message_id, "message_key": held.message_id,
            "received_at": held.received_at.isoformat(),
            "expires_at": held.expires_at.isoformat(), "event": event}


def _audit_records(audit_dir: Path, subject_key: str) -> Iterator[dict[str, Any]]:
    """Every record about the subject in every worker's audit log under ``audit_dir``."""
    needle = subject_key.encode()
    if not audit_dir.is_dir():
        return
    for log_dir in sorted(p for p in audit_dir.iterdir() if p.is_dir()):
        if not is_log_directory(log_dir):
            continue
        try:
            segments = list_segments(log_dir)
        except ValueError:
            continue  # a damaged log is for `cdp-plugin audit verify` to report
        for segment in segments:
            with segment.open("rb") as handle:
                for line in handle:
                    # A line still being written (no newline yet) is not a record yet.
                    if needle in line and line.endswith(b"\n"):
                        record = json.loads(line)
                        if record.get("subject") == subject_key:
                            yield record


def forwarded_counts(audit_dir: Path, subject_key: str) -> dict[str, Any]:
    """How many of the subject's events were forwarded, in total and per destination,
    read from the audit logs (every worker's) under ``audit_dir``.

    Reads only files, never the store or a writer's state, so it runs outside
    the application lock: a scan of a long log must not stall every webhook.
    Records of a unit of work not yet committed are not on disk yet (the
    writer flushes before the store commits), so they are not counted.
    """
    total = 0
    by_destination: Counter[str] = Counter()
    for record in _audit_records(audit_dir, subject_key):
        if record.get("kind") == "event.decision" and record.get("action") == "allow":
            total += 1
            by_destination.update(record.get("destinations") or [])
    return {"events": total, "by_destination": dict(sorted(by_destination.items()))}


def export_subject(pipeline: Pipeline, subject_id: str, now: datetime, *,
                   webhook: tuple[str, str] | None = None,
                   forwarded: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything held about the subject as JSON-ready data, and audit the access.

    Sections: consent (current state and full history), preferences,
    quarantined events (as received, the linked identities' too), the number
    of linked identities, forwarded counts, double opt-in
    requests, queued notices, earlier erasures, the deliveries to
    destinations (with what each was or will be sent) and the experiments
    (arm, first exposure, conversion, revenue), then those of the stages
    (``cdp_export_subject``; segmentation: segments with the clauses that
    hold now, and features). ``webhook`` is the request's ``(id, digest)``: a
    known id raises ReplayedWebhook, even with the same digest (an export is
    never served twice for one id). ``forwarded`` is :func:`forwarded_counts`
    when the caller read it already, outside its lock. Raises StorageError, AuditError or
    PluginError (a failing stage: nothing is returned).
    """
    runtime = pipeline.runtime
    store = runtime.store
    subject_key = runtime.pseudonymizer.subject(subject_id)
    with unit_of_work(pipeline):
        claim_webhook(pipeline, webhook, now, duplicate_ok=False)
        preferences = store.get_preferences(subject_key) or {}
        linked = store.linked_identities(subject_key)
        held = [_held_event(h) for key in (subject_key, *linked)
                for h in store.quarantine_list(key)]
        history = [r.as_dict() for r in store.consent_history(subject_key)]
        export: dict[str, Any] = {
            "subject": subject_key,
            "generated_at": now.isoformat(),
            "consent": {
                "current": [{"scope": scope, "name": name,
                             "state": "granted" if state.granted else "denied",
                             "source": state.source, "captured_at": state.captured_at.isoformat(),
                             "notice_version": state.notice_version}
                            for (scope, name), state in sorted(
                                store.current_consent(subject_key).items())],
                "history": history,
            },
            "preferences": {"residency": preferences.get(RESIDENCY), **preferences},
            "quarantined_events": held,
            "linked_identities": len(linked),
            "forwarded": dict(forwarded) if forwarded is not None else forwarded_counts(
                runtime.config.audit_dir, subject_key),
            "double_opt_in": [_optin(r) for r in store.optin_list(subject_key)],
            "notices": [{"destination": n.destination, "type": n.kind, "status": n.status,
                         "attempts": n.attempts, "created_at": n.created_at.isoformat()}
                        for n in store.outbox_list(subject_key=subject_key)],
            "erasures": [{"erased_at": t.erased_at.isoformat(), **dict(t.proof)}
                         for t in store.tombstones(subject_key)],
            "deliveries": [_delivery(d) for key in (subject_key, *linked)
                           for d in store.delivery_list(subject_key=key)],
            "experiments": [_experiment(row) for key in (subject_key, *linked)
                            for row in store.experiment_subjects_of(key)],
        }
        export.update(pipeline.hooks.export_subject(subject_key, now, taken=export))
        segments = export.get("segments") or []
        pipeline.hooks.audit(SubjectExported(subject_key, len(history), len(held),
                                             len(segments)))
    return export


def _delivery(delivery: QueuedDelivery) -> dict[str, Any]:
    """A queued delivery as its access export shows it (what was or will be sent)."""
    return {"destination": delivery.destination, "status": delivery.status,
            "attempts": delivery.attempts, "queued_at": delivery.created_at.isoformat(),
            "purposes": list(delivery.purposes),
            "payload": json.loads(delivery.payload) if delivery.payload else None}


def _experiment(row: ExperimentSubject) -> dict[str, Any]:
    """An experiment row as its access export shows it."""
    return {"experiment": row.experiment, "arm": row.arm,
            "assigned_at": row.assigned_at.isoformat(),
            "first_exposed_at": row.first_exposed_at.isoformat() if row.first_exposed_at else None,
            "converted": row.converted, "revenue": row.revenue,
            "converted_at": row.converted_at.isoformat() if row.converted_at else None}


def erase_subject(pipeline: Pipeline, settings: CallbackSettings, subject_id: str,
                  now: datetime, *, webhook: tuple[str, str] | None = None) -> Erasure | None:
    """Erase the subject (see the module docstring) and return the proof.

    ``webhook`` is the request's ``(id, digest)``: None is returned, and
    nothing done, for a duplicate; ReplayedWebhook is raised for a replay.
    Raises StorageError, AuditError or PluginError with nothing erased. The
    caller serializes this with other users of the pipeline.
    """
    runtime = pipeline.runtime
    store = runtime.store
    purposes = runtime.rules.purposes
    subject_key = runtime.pseudonymizer.subject(subject_id)
    reference = runtime.pseudonymizer.field(subject_id)
    with unit_of_work(pipeline):
        if not claim_webhook(pipeline, webhook, now):
            return None
        # Held events go first: the withdrawal below must not decide them again.
        held = store.quarantine_list(subject_key)
        removed = store.quarantine_remove([h.id for h in held])
        linked = store.linked_identities(subject_key)
        linked_held = [h.id for key in linked for h in store.quarantine_list(key)]
        linked_removed = store.quarantine_remove(linked_held)
        pipeline.record_consent(ConsentUpdate(
            subject_id, now, ERASURE_SOURCE,
            purposes={name: False for name, purpose in purposes.purposes.items()
                      if purpose.legal_basis == "consent"},
            channels=dict.fromkeys(purposes.channels, False),
            topics=dict.fromkeys(purposes.topics, False)))
        deleted = {
            "data_keys": Keyring(store, runtime.pseudonymizer.master_keys).erase(subject_key),
            "preferences": int(store.delete_preferences(subject_key)),
            "quarantined_events": removed,
            "sends": store.delete_sends(subject_key),
            "optin_requests": store.optin_delete(subject_key),
            "linked_quarantined_events": linked_removed,
            "linked_data_keys": sum(Keyring(store, runtime.pseudonymizer.master_keys).erase(key)
                                    for key in linked),
            "deliveries": store.delivery_delete([subject_key, *linked]),
            "experiments": store.experiment_delete([subject_key, *linked]),
            "identity_links": store.delete_links(subject_key),
        }
        for kind, count in pipeline.hooks.erase_subject(subject_key, now).items():
            deleted[kind] = deleted.get(kind, 0) + count
        notices = []
        for name in sorted(settings.destinations):
            key = notice_key("erasure", name, subject_key, now.isoformat())
            if queue_notice(pipeline, name, "erasure", subject_key,
                            {"type": "erasure", "subject": reference,
                             "erased_at": now.isoformat()}, key, now):
                notices.append(key)
        entry = pipeline.hooks.audit(SubjectErased(subject_key, deleted, len(notices)))
        tombstone = store.add_tombstone(subject_key, now, {
            "deleted": deleted, "audit": {"origin": runtime.audit_log.origin,
                                          "index": entry.index, "leaf_hash": entry.leaf_hash}})
    scrubbed = False
    if settings.scrub_after_erase:
        scrubbed = store.scrub_deleted()
        with unit_of_work(pipeline):
            pipeline.hooks.audit(SubjectScrubbed(subject_key, scrubbed))
    return Erasure(subject_key, now, deleted, tuple(notices), tombstone, entry.index, scrubbed)
