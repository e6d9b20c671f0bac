"""The retention part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.storage.records import QuarantinedEvent


class RetentionStore(ABC):
    """Retention: removing what has outlived its time to live.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def quarantine_received_before(self, before: datetime) -> list[QuarantinedEvent]:
        """Return every quarantined event received strictly before ``before``, in
        insertion order, whatever its expiry. Raises StorageError on failure."""

    @abstractmethod
    def delete_profiles_before(self, updated_before: datetime) -> int:
        """Delete the profiles last updated strictly before ``updated_before``; return
        how many. Raises StorageError on failure."""

    @abstractmethod
    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        """Remove the top-level keys ``names`` from every profile last updated strictly
        before ``updated_before``; return how many profiles lost at least one.

        ``updated_at`` stays as it was, so the profile still ages towards its own
        deletion. Raises StorageError on failure, including a name with a double
        quote (not every backend can address one).
        """

    @abstractmethod
    def blank_consent_proofs(self, captured_before: datetime) -> int:
        """Empty the ``proof`` of ledger records captured strictly before
        ``captured_before``; return how many records changed.

        A record that a current state still comes from keeps its proof, since
        that state still rests on it. Nothing else in any record changes and no
        record is removed: the ledger keeps its history and ``seq`` order, minus
        the evidence. Raises StorageError on failure.
        """

    @abstractmethod
    def delete_sends_before(self, before: datetime) -> int:
        """Delete every recorded send strictly before ``before``; return how many.

        Raises StorageError on failure.
        """
