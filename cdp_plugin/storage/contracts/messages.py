"""The messages part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class MessageDedup(ABC):
    """Message dedup: which message ids were already seen.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        """Record ``message_id``; True if it was new, False if it is a replay.

        A replay keeps the first ``seen_at``. Raises StorageError on failure.
        """

    @abstractmethod
    def forget_message(self, message_id: str) -> bool:
        """Delete the dedup entry of ``message_id`` so the message counts as new again.

        Returns True if there was one. Raises StorageError on failure.
        """

    @abstractmethod
    def forget_messages_before(self, before: datetime) -> int:
        """Delete dedup entries seen strictly before ``before``; return how many.

        Raises StorageError on failure.
        """
