"""Taking queued deliveries back when a withdrawal or an erasure makes them
unlawful to send (called by :meth:`Pipeline.record_consent`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cdp_plugin.audit.records import DeliveryCancelled
from cdp_plugin.hookrunner import HookRunner
from cdp_plugin.storage.base import Store


def cancel_queued(store: Store, hooks: HookRunner, subject_keys: Sequence[str],
                  purposes: Iterable[str] | None, reason: str, at: datetime) -> int:
    """Cancel the subjects' pending deliveries justified by a withdrawn purpose
    (every one if ``purposes`` is None), before they are sent; audit one
    ``delivery.cancelled`` per destination and subject. Returns how many.

    A delivery already in flight when this commits may still arrive; a
    destination configured for notices (``plugins.callbacks.destinations``)
    also receives the withdrawal's suppression notice.
    """
    withdrawn = None if purposes is None else sorted(set(purposes))
    cancelled = store.delivery_cancel(subject_keys, withdrawn, at)
    groups: dict[tuple[str, str], list[str]] = {}
    for delivery in cancelled:
        groups.setdefault((delivery.destination, delivery.subject_key), []).append(
            delivery.message_key)
    for (destination, subject), messages in sorted(groups.items()):
        hooks.audit(DeliveryCancelled(destination, subject, tuple(messages), reason,
                                      tuple(withdrawn or ())))
    return len(cancelled)
