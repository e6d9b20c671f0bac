"""The sends part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class SendLog(ABC):
    """Sends recorded per subject and channel, counted by frequency caps.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def record_send(
        self, subject_key: str, channel: str, topic: str | None, sent_at: datetime
    ) -> None:
        """Record that the subject was sent a message on ``channel`` (about
        ``topic``, if any) at ``sent_at``; frequency caps count these.

        Raises StorageError on failure, including a naive datetime.
        """

    @abstractmethod
    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        """Return when the subject was sent messages on ``channel`` strictly after
        ``since``, ascending, in UTC.

        Inside a transaction, a check of the count followed by
        :meth:`record_send` is safe against other connections doing the same
        for this subject and channel: they wait until the transaction ends
        rather than count the same sends. Raises StorageError on failure,
        including a naive datetime.
        """

    @abstractmethod
    def delete_sends(self, subject_key: str) -> int:
        """Delete every recorded send of the subject; return how many were deleted.

        Raises StorageError on failure.
        """
