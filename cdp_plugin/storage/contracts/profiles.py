"""The profiles part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any


class ProfileStore(ABC):
    """Subject profiles: one JSON mapping per subject key.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        """Return the subject's profile, or None if there is none.

        Raises StorageError on failure.
        """

    def prefetch_profiles(self, subject_keys: Iterable[str]) -> None:
        """A hint inside a transaction: these subjects' profiles are about to be read.

        A store may read them all at once and answer the next
        :meth:`get_profile` of each from what it read, as long as every
        answer is what the database holds at that moment within the
        transaction. Outside a transaction it does nothing; so does this
        default. Raises StorageError on failure.
        """
        del subject_keys  # only a hint: answering each read on its own is correct

    @abstractmethod
    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        """Create or replace the subject's profile with ``data`` (JSON-serializable).

        Raises StorageError on failure, including data that is not JSON.
        """

    @abstractmethod
    def delete_profile(self, subject_key: str) -> bool:
        """Delete the subject's profile; True if there was one.

        Raises StorageError on failure.
        """

    @abstractmethod
    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(subject_key, profile)`` ordered by subject_key, fetching in pages.

        Pages are read one at a time, so the store stays usable while iterating
        and a large table is never held in memory. Raises StorageError, while
        iterating, on failure.
        """
