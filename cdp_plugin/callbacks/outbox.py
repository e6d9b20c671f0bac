"""The outbox: suppression and erasure notices for downstream destinations.

A notice is written to the store in the same transaction as the change it
reports, so a crash loses none. :class:`Outbox` delivers them:

* each attempt is leased in the store before the request goes out, so two
  senders never send one notice at once, and an attempt cut short by a crash
  still counts and is retried when its lease ends;
* a failed attempt ``n`` is retried after ``base * 2**(n-1)`` seconds, capped,
  with equal jitter (between half and all of that);
* after ``max_attempts`` the notice is dead-lettered (status ``dead``);
* every notice carries an ``Idempotency-Key`` (and, if the destination has a
  secret, the same value as its Standard Webhooks ``webhook-id``), which stays
  the same across retries: a destination that sees a key twice applies it once;
* every attempt and outcome is audited, naming the notice and the status code
  or error class, never the payload.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests

from cdp_plugin.audit.records import (
    OutboxAttempt,
    OutboxDeadLettered,
    OutboxDelivered,
    OutboxOutcome,
    OutboxQueued,
    OutboxRetry,
)
from cdp_plugin.callbacks.auth import IDEMPOTENCY_HEADER, signed_headers
from cdp_plugin.callbacks.settings import CallbackSettings, Destination
from cdp_plugin.callbacks.work import unit_of_work
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.storage.base import OutboxNotice
from cdp_plugin.unit_of_work import Clock, utcnow

__all__ = ["IDEMPOTENCY_HEADER", "DeliveryReport", "Outbox", "notice_key", "queue_notice"]

log = logging.getLogger(__name__)



def notice_key(*parts: str) -> str:
    """A deterministic idempotency key: the same change always gets the same key,
    so queueing it twice (a retried request, a replayed batch) sends it once."""
    return "ntc_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def queue_notice(pipeline: Pipeline, destination: str, kind: str, subject_key: str,
                 payload: Mapping[str, Any], key: str, now: datetime) -> bool:
    """Queue one notice (inside the caller's unit of work) and audit it.

    ``payload`` must hold no raw identifier: destinations know subjects by
    the keyed hash minimization gave them. Returns False if a notice with
    ``key`` was already queued (nothing is audited then).
    """
    body = json.dumps({**payload, "idempotency_key": key}, sort_keys=True,
                      separators=(",", ":"))
    if not pipeline.runtime.store.outbox_add(key, destination, kind, subject_key, body, now):
        return False
    pipeline.hooks.audit(OutboxQueued(key, destination, kind, subject_key))
    return True


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one delivery pass did: notices delivered, to retry, dead-lettered."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retried + self.dead

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(self.delivered + other.delivered, self.retried + other.retried,
                              self.dead + other.dead)


class Outbox:
    """Delivers due notices with ``requests``.

    ``lock`` serializes the pipeline with other users of it (an HTTP app);
    it is never held while a request is in flight. ``rng`` draws the jitter.
    """

    def __init__(self, pipeline: Pipeline, settings: CallbackSettings, *,
                 lock: AbstractContextManager[Any] | None = None,
                 session: requests.Session | None = None, clock: Clock = utcnow,
                 rng: random.Random | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.policy = settings.outbox
        self._lock = lock or nullcontext()
        self._session = session or requests.Session()
        self._clock = clock
        self._rng = rng or random.Random()

    def backoff(self, attempts: int) -> timedelta:
        """The jittered wait after failed attempt number ``attempts``."""
        return self.policy.backoff(attempts, self._rng)

    def deliver_due(self) -> DeliveryReport:
        """Lease the notices due now, send each once, record each outcome.

        Raises StorageError or AuditError if the store or the audit log
        fails; a notice whose outcome could not be recorded is sent again
        when its lease ends (the destination deduplicates by key).
        """
        now = self._clock()
        lease_until = now + timedelta(seconds=self.policy.lease_seconds)
        with self._lock, unit_of_work(self.pipeline):
            leased = self.pipeline.runtime.store.outbox_lease(now, lease_until,
                                                              self.policy.batch_size)
            for notice in leased:
                self.pipeline.hooks.audit(OutboxAttempt(
                    notice.idempotency_key, notice.destination, notice.attempts))
        report = DeliveryReport()
        for notice in leased:
            report += self._settle(notice, self._send(notice))
        return report

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> DeliveryReport:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until no
        notice is pending), sleeping until the next one is due."""
        total = DeliveryReport()
        while not stop.is_set():
            report = self.deliver_due()
            total += report
            if report.attempted:
                continue
            with self._lock:
                due = self.pipeline.runtime.store.outbox_next_due()
            if due is None and until_idle:
                break
            wait = self.policy.poll_seconds
            if due is not None:
                wait = min(wait, max((due - self._clock()).total_seconds(), 0.0))
            stop.wait(wait)
        return total

    def _send(self, notice: OutboxNotice) -> tuple[bool, str | None]:
        """POST the notice; (delivered?, what went wrong). Never raises."""
        destination = self.settings.destinations.get(notice.destination)
        if destination is None:
            return False, "destination.unconfigured"
        body = notice.payload.encode()
        headers = self._headers(destination, notice, body)
        try:
            response = self._session.post(destination.url, data=body, headers=headers,
                                          timeout=self.policy.timeout_seconds,
                                          allow_redirects=False)
        except Exception as exc:  # any failure of this attempt is retried, not fatal
            return False, type(exc).__name__
        if 200 <= response.status_code < 300:
            return True, None
        return False, f"http {response.status_code}"

    @staticmethod
    def _headers(destination: Destination, notice: OutboxNotice, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json",
                   IDEMPOTENCY_HEADER: notice.idempotency_key}
        if destination.secret:
            headers.update(signed_headers(destination.secret, body, notice.idempotency_key))
        return headers

    def _settle(self, notice: OutboxNotice, outcome: tuple[bool, str | None]) -> DeliveryReport:
        delivered, error = outcome
        now = self._clock()
        fields = (notice.idempotency_key, notice.destination, notice.attempts, error)
        record: OutboxOutcome
        if delivered:
            status, next_at, record = "delivered", now, OutboxDelivered(*fields)
        elif notice.attempts >= self.policy.max_attempts:
            status, next_at, record = "dead", now, OutboxDeadLettered(*fields)
        else:
            status, next_at = "pending", now + self.backoff(notice.attempts)
            record = OutboxRetry(*fields, next_at)
        with self._lock, unit_of_work(self.pipeline):
            store = self.pipeline.runtime.store
            if not store.outbox_settle(notice.id, notice.attempts, status, next_at, error, now):
                return DeliveryReport()  # a later attempt took over: it reports
            self.pipeline.hooks.audit(record)
        if status == "dead":
            log.warning("notice %s to %s dead-lettered after %d attempts (%s)",
                        notice.idempotency_key, notice.destination, notice.attempts, error)
        return DeliveryReport(delivered=status == "delivered", retried=status == "pending",
                              dead=status == "dead")
