"""The consent part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from cdp_plugin.storage.records import ConsentRecord, CurrentConsent


class ConsentLedger(ABC):
    """The append-only consent ledger and the current state it yields.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def append_consent(self, record: ConsentRecord) -> ConsentRecord:
        """Append ``record`` to the ledger and return it with a fresh ``seq``.

        ``seq`` increases with every append (any ``seq`` on the input is
        ignored). For each purpose and channel in the record, the current state
        takes this record's value iff its ``captured_at`` is not older than the
        current entry's (ties go to the later ``seq``); an older record stays in
        history only. Raises StorageError on failure, including a naive
        datetime or a non-bool grant value.
        """

    @abstractmethod
    def consent_history(self, subject_key: str) -> list[ConsentRecord]:
        """Return every ledger record of the subject, in append order (seq ascending).

        Raises StorageError on failure.
        """

    @abstractmethod
    def current_consent(self, subject_key: str) -> dict[tuple[str, str], CurrentConsent]:
        """Return the subject's current state keyed by ``(scope, name)``; empty if none.

        Raises StorageError on failure.
        """

    def prefetch_consent(self, subject_keys: Iterable[str]) -> None:
        """A hint inside a transaction: these subjects' current consent is about to be read.

        A store may read it all at once and answer :meth:`current_consent`
        from what it read until the transaction ends or a subject's consent
        is appended; outside a transaction it does nothing, as does this
        default. Raises StorageError on failure.
        """
        del subject_keys  # only a hint: answering each read on its own is correct

    @abstractmethod
    def stale_consent(
        self, captured_before: datetime, superseded_notices: Sequence[str]
    ) -> Iterator[tuple[str, CurrentConsent]]:
        """Yield ``(subject_key, state)`` for current purpose and channel states
        captured before ``captured_before`` or given under one of
        ``superseded_notices``, ordered by subject key.

        Raises StorageError on failure.
        """
