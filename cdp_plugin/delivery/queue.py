"""Handing forwarded events to their destinations, and taking them back.

:func:`hand_over` runs inside the unit of work that decided the events: it
writes the direct targets (durably) and queues the events for the queued
ones in the store, so the events, their decisions and their deliveries
commit together or not at all.
:func:`cdp_plugin.delivery.cancel.cancel_queued` withdraws what a subject's
withdrawal or erasure makes unlawful to send.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdp_plugin.audit.records import DeliveryQueued
from cdp_plugin.delivery.config import DeliveryPlan, forwarded_to, served
from cdp_plugin.storage.records import NewDelivery
from cdp_plugin.types import Outcome

if TYPE_CHECKING:
    from cdp_plugin.pipeline import Pipeline


def hand_over(pipeline: Pipeline, plan: DeliveryPlan, outcomes: Sequence[Outcome]) -> int:
    """Write ``outcomes``' forwarded events to the direct targets and queue them
    for the queued ones, auditing one ``delivery.queued`` per destination;
    return how many deliveries were queued.

    Each queued delivery records the purposes that justify it (the event's
    purposes the destination serves), so a withdrawal can cancel it. Raises
    OSError, StorageError or AuditError, to roll the unit of work back.
    """
    runtime = pipeline.runtime
    store, rules, pseudonymizer = runtime.store, runtime.rules.purposes, runtime.pseudonymizer
    now = pipeline.clock()
    for name, target in plan.direct.items():
        target.write(forwarded_to(outcomes, name))
    queued = 0
    message_keys: dict[str, str] = {}  # each event's pseudonym, once for all its destinations
    for name in plan.queued:
        purposes = rules.destinations.get(name, frozenset())
        rows = []
        for outcome, payload in served(outcomes, name):
            message_id = outcome.message_id or ""
            key = message_keys.get(message_id)
            if key is None:
                key = message_keys[message_id] = pseudonymizer.message(message_id)
            rows.append(NewDelivery(
                name, outcome.subject_key or "", key, tuple(sorted(outcome.purposes & purposes)),
                json.dumps(payload, separators=(",", ":"), ensure_ascii=False)))
        if not rows:
            continue
        store.delivery_add(rows, now)
        pipeline.hooks.audit(DeliveryQueued(name, tuple(row.message_key for row in rows)))
        queued += len(rows)
    return queued
