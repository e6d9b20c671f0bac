"""The identity-links part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class IdentityLinks(ABC):
    """Which subject keys an event has linked: an identify carrying both a user id
    and an anonymous id, or an alias naming a previous id. Kept so that an
    erasure of one identity reaches what is held under the others (events
    quarantined while the subject was still anonymous). Both sides are keyed
    pseudonyms; no id is stored in the clear.
    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def link_identities(self, subject_key: str, linked_key: str, linked_at: datetime) -> None:
        """Record that ``linked_key`` names the same subject as ``subject_key``
        (idempotent; the first time is kept). A key is never linked to itself.

        Raises StorageError on failure, including a naive datetime.
        """

    @abstractmethod
    def linked_identities(self, subject_key: str) -> list[str]:
        """The keys linked to ``subject_key`` in either direction, sorted.

        Raises StorageError on failure.
        """

    @abstractmethod
    def delete_links(self, subject_key: str) -> int:
        """Delete every link that names ``subject_key``; return how many.

        Raises StorageError on failure.
        """
