"""The preferences part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any


class PreferenceStore(ABC):
    """What each subject chose in the preference center beyond consent (residency,
    frequency caps): one JSON mapping per subject key, apart from any stage's
    profile, so no stage owns it and blocking a stage leaves it in place.

    Preferences are not aged out by the retention sweep: they are the
    subject's own choices and protect the subject (a cap, the regime of its
    residency), so they stay until replaced or the subject is erased.
    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def get_preferences(self, subject_key: str) -> dict[str, Any] | None:
        """Return the subject's preferences, or None if none were recorded.

        Raises StorageError on failure.
        """

    @abstractmethod
    def put_preferences(self, subject_key: str, data: Mapping[str, Any],
                        updated_at: datetime) -> None:
        """Create or replace the subject's preferences with ``data`` (JSON-serializable).

        Raises StorageError on failure, including data that is not JSON or a
        naive datetime.
        """

    @abstractmethod
    def delete_preferences(self, subject_key: str) -> bool:
        """Delete the subject's preferences; True if there were any.

        Raises StorageError on failure.
        """
