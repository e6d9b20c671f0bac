"""What ``cdp-plugin delivery status|requeue`` does: read the queue, and make
dead letters pending again, audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cdp_plugin.audit.records import DeliveryRequeued
from cdp_plugin.storage.records import DELIVERY_STATUSES, QueuedDelivery

if TYPE_CHECKING:
    from cdp_plugin.pipeline import Pipeline

MAX_LISTED = 100


def queue_status(pipeline: Pipeline, *, dead_listed: int = MAX_LISTED) -> dict[str, Any]:
    """Counts per destination and status, and the oldest dead letters (id,
    destination, message pseudonym, attempts, error, times: never the payload)."""
    store = pipeline.runtime.store
    counts: dict[str, dict[str, int]] = {}
    for (destination, status), n in sorted(store.delivery_counts().items()):
        counts.setdefault(destination, dict.fromkeys(DELIVERY_STATUSES, 0))[status] = n
    dead = store.delivery_list(status="dead", limit=dead_listed)
    return {"destinations": counts,
            "dead_letters": [{"id": d.id, "destination": d.destination,
                              "message": d.message_key, "attempts": d.attempts,
                              "error": d.last_error, "queued_at": d.created_at.isoformat(),
                              "dead_at": d.updated_at.isoformat()} for d in dead]}


def requeue(pipeline: Pipeline, destination: str | None,
            ids: Sequence[int] | None) -> list[QueuedDelivery]:
    """Make the dead letters of ``destination`` (every one if None), only ``ids``
    if given, pending again with no attempts counted, and audit one
    ``delivery.requeued`` per destination. Returns them."""
    with pipeline.unit_of_work():
        requeued = pipeline.runtime.store.delivery_requeue(destination, ids, pipeline.clock())
        by_destination: dict[str, list[str]] = {}
        for delivery in requeued:
            by_destination.setdefault(delivery.destination, []).append(delivery.message_key)
        for name, messages in sorted(by_destination.items()):
            pipeline.hooks.audit(DeliveryRequeued(name, tuple(messages)))
    return requeued
