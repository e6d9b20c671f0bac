"""The callbacks part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cdp_plugin.storage.records import OptInRequest, OutboxNotice, Tombstone


class CallbackStore(ABC):
    """Preference-center callbacks: webhook ids, the notice outbox,
    tombstones of erased subjects and double opt-in requests.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        """Record a received webhook id with the digest of its request.

        Returns None if the id was new, else the digest stored with it first
        (the first ``seen_at`` is kept). Raises StorageError on failure.
        """

    @abstractmethod
    def forget_webhooks_before(self, before: datetime) -> int:
        """Delete webhook ids seen strictly before ``before``; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        """Queue a notice, due at once; False (and nothing changed) if a notice
        with ``idempotency_key`` already exists.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        """Start an attempt on up to ``limit`` pending notices due at ``now``.

        Atomically, for each: ``attempts`` grows by one and ``next_attempt_at``
        becomes ``lease_until``, so no other connection leases it until then.
        Returns them (as updated) ordered by id. Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        """Record the outcome of attempt number ``attempts`` of a pending notice.

        ``status`` is ``pending`` (retry at ``next_attempt_at``), ``delivered``
        or ``dead``. Returns False, changing nothing, if the notice is no
        longer pending or another attempt was started since. Raises
        StorageError on failure, including an unknown status.
        """

    @abstractmethod
    def outbox_next_due(self) -> datetime | None:
        """When the earliest pending notice is due, or None if none is pending.

        Raises StorageError on failure.
        """

    @abstractmethod
    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        """Notices, optionally of one subject and/or one status, ordered by id.

        Raises StorageError on failure.
        """

    @abstractmethod
    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        """Record that the subject's data was erased; return the tombstone's id.

        Raises StorageError on failure, including a proof that is not JSON.
        """

    @abstractmethod
    def tombstones(self, subject_key: str) -> list[Tombstone]:
        """The subject's tombstones, oldest first. Raises StorageError on failure."""

    @abstractmethod
    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        """Record a pending double opt-in request under a new ``token_id``.

        Raises StorageError on failure, including a token id already used.
        """

    @abstractmethod
    def optin_get(self, token_id: str) -> OptInRequest | None:
        """The request issued under ``token_id``, or None. Raises StorageError on failure."""

    @abstractmethod
    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        """Move a pending request to ``confirmed`` or ``cancelled``; False if it
        was not pending (nothing changed). Raises StorageError on failure."""

    @abstractmethod
    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        """Cancel the subject's pending requests for ``channel`` captured at or
        before ``captured_until``; return how many. Raises StorageError on failure."""

    @abstractmethod
    def optin_list(self, subject_key: str) -> list[OptInRequest]:
        """The subject's requests, oldest first. Raises StorageError on failure."""

    @abstractmethod
    def optin_delete(self, subject_key: str) -> int:
        """Delete every request of the subject; return how many. Raises StorageError on failure."""
