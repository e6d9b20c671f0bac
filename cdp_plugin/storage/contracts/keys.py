"""The keys part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime


class KeyStore(ABC):
    """Wrapped per-subject keys, never replaced once stored.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def put_key(
        self, subject_key: str, key_id: str, wrapped_key: bytes, created_at: datetime
    ) -> None:
        """Store a wrapped per-subject key under ``key_id``.

        Storing the same bytes again is a no-op. Key material is never
        replaced: a different key under an existing ``key_id`` raises
        StorageError, as does any other failure.
        """

    @abstractmethod
    def get_keys(self, subject_key: str) -> dict[str, bytes]:
        """Return the subject's wrapped keys by key id, oldest first; empty if none.

        Raises StorageError on failure.
        """

    @abstractmethod
    def iter_keys(self) -> Iterator[tuple[str, str, bytes]]:
        """Yield ``(subject_key, key_id, wrapped_key)`` for every stored key,
        ordered by subject key then key id, read in pages (for rotation).

        Raises StorageError on failure.
        """

    @abstractmethod
    def delete_keys(self, subject_key: str) -> int:
        """Delete every key of the subject; return how many were deleted.

        Raises StorageError on failure.
        """
