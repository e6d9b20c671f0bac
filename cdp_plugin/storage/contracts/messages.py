"""The messages part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
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

    def remember_messages_ahead(self, message_ids: Iterable[str], seen_at: datetime) -> None:
        """A hint inside a transaction: these messages are about to be remembered.

        A store may record them all at once, at ``seen_at``, and answer each
        one's next :meth:`remember_message` in the transaction from that: True
        for the first time a message is remembered, False for one seen before.
        Outside a transaction it does nothing; so does this default. Raises
        StorageError on failure.
        """
        del message_ids, seen_at  # only a hint: remembering each on its own is correct

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
