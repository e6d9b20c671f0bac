"""The quarantine part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime

from cdp_plugin.storage.records import QuarantinedEvent


class QuarantineStore(ABC):
    """Events held back until they may be processed, or expire.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def quarantine_add(
        self,
        subject_key: str,
        message_id: str,
        payload: str,
        received_at: datetime,
        expires_at: datetime,
    ) -> int:
        """Quarantine one event; return its id (ids increase in insertion order).

        Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_list(self, subject_key: str) -> list[QuarantinedEvent]:
        """Return the subject's quarantined events in insertion order.

        Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_count(self, subject_key: str) -> int:
        """Return how many events of the subject are quarantined.

        Raises StorageError on failure.
        """

    def prefetch_quarantine_counts(self, subject_keys: Iterable[str]) -> None:
        """A hint inside a transaction: these subjects' held events are about to be
        counted. A store may count them all at once and answer
        :meth:`quarantine_count` from that, kept current by its own adds and
        removals, until the transaction ends; outside one it does nothing, as
        does this default. Raises StorageError on failure."""
        del subject_keys  # only a hint: counting each on its own is correct

    @abstractmethod
    def quarantine_remove(self, ids: Sequence[int]) -> int:
        """Remove the quarantined events with these ids; return how many were removed.

        Unknown ids are ignored. Raises StorageError on failure.
        """

    @abstractmethod
    def quarantine_expired(self, now: datetime) -> list[QuarantinedEvent]:
        """Return every quarantined event with ``expires_at <= now``, in insertion order.

        Raises StorageError on failure.
        """
