"""The delivery-queue part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime

from cdp_plugin.storage.records import NewDelivery, QueuedDelivery


class DeliveryQueue(ABC):
    """Forwarded events queued for their destinations, in the same transaction
    that decided them, and delivered at least once in per-subject order.

    Order: a pending delivery is leased only when every older pending
    delivery of the same subject to the same destination is leased with it,
    so a failed event blocks the subject's later events for that destination
    until it is delivered, dead-lettered or cancelled.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def delivery_add(self, deliveries: Sequence[NewDelivery], created_at: datetime) -> int:
        """Queue ``deliveries``, due at once; return how many were new.

        A (destination, message_key) pair already queued is left as it is.
        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_lease(self, destination: str, now: datetime, lease_until: datetime,
                       limit: int) -> list[QueuedDelivery]:
        """Start an attempt on up to ``limit`` pending deliveries to
        ``destination`` due at ``now``, oldest first, keeping per-subject order
        (see the class doc).

        Atomically, for each: ``attempts`` grows by one and ``next_attempt_at``
        becomes ``lease_until``, so no other connection leases it until then.
        Returns them (as updated) ordered by id. Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_settle(self, leased: Iterable[tuple[int, int]], status: str,
                        next_attempt_at: datetime, last_error: str | None, at: datetime, *,
                        count_attempt: bool = True) -> int:
        """Record the outcome of the attempts ``(id, attempts)`` of pending deliveries.

        ``status`` is ``pending`` (retry at ``next_attempt_at``), ``delivered``
        or ``dead``; a delivered one keeps no payload (it is ``""`` from then
        on: the store holds what is sent only until it is sent). With
        ``count_attempt`` False the attempt is given back
        (it was never sent: an older delivery of the subject failed first).
        Returns how many changed; a delivery no longer pending, or leased
        again since, is left alone. Raises StorageError on failure, including
        an unknown status.
        """

    @abstractmethod
    def delivery_cancel(self, subject_keys: Sequence[str], purposes: Iterable[str] | None,
                        at: datetime) -> list[QueuedDelivery]:
        """Cancel the subjects' pending deliveries justified by any of
        ``purposes`` (all of them if None), emptying their payloads; return
        them as they were, by id.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_delete(self, subject_keys: Sequence[str]) -> int:
        """Delete every delivery of the subjects, whatever its status; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_forget(self, settled_before: datetime) -> int:
        """Delete the deliveries settled (delivered, cancelled or dead) strictly
        before ``settled_before``; return how many. Pending ones stay.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_requeue(self, destination: str | None, ids: Sequence[int] | None,
                         at: datetime) -> list[QueuedDelivery]:
        """Make dead-lettered deliveries pending again, due at ``at`` with no
        attempts counted: those of ``destination`` (all if None), restricted
        to ``ids`` if given. Returns them as they were (dead), by id.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_list(self, *, subject_key: str | None = None, status: str | None = None,
                      destination: str | None = None,
                      limit: int | None = None) -> list[QueuedDelivery]:
        """Deliveries matching every filter given, ordered by id.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_counts(self) -> dict[tuple[str, str], int]:
        """How many deliveries there are per (destination, status).

        Raises StorageError on failure.
        """

    @abstractmethod
    def delivery_next_due(self, destination: str) -> datetime | None:
        """When the destination's earliest pending delivery is due, or None.

        Raises StorageError on failure.
        """
