"""The sender: delivers queued events to their targets, at least once, in
per-subject order.

One pass, per destination (:meth:`Sender.deliver_due`):

1. lease the due deliveries (the store keeps per-subject order: a subject's
   later events are leased only together with, and after, its earlier
   pending ones) and audit the attempt, in one unit of work;
2. send them in requests of at most the target's ``max_events`` and
   ``max_bytes``, in id order, without holding the pipeline lock; once a
   request fails, the same subject's later events in this pass are not sent
   (they are given back with their attempt uncounted, ``blocked``);
3. settle each request in a unit of work of its own: delivered; retried
   after the outbox's jittered exponential backoff or the destination's
   ``Retry-After``, whichever is longer; dead-lettered after the policy's
   ``max_attempts`` or an answer retrying cannot change.

A crash after a request but before its settlement leaves the events leased:
they are sent again when the lease ends, and the destination deduplicates
by ``messageId`` (and the idempotency key). Nothing about a subject or an
event's content is logged.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any, Protocol

from cdp_plugin.audit.records import (
    DeliveryAttempt,
    DeliveryDeadLettered,
    DeliveryDelivered,
    DeliveryOutcome,
    DeliveryRetry,
)
from cdp_plugin.callbacks.outbox import DeliveryReport
from cdp_plugin.delivery.config import DeliveryPlan
from cdp_plugin.delivery.targets import QueuedEvent, QueuedTarget, SendResult
from cdp_plugin.errors import CdpPluginError
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.storage.base import Store
from cdp_plugin.storage.records import QueuedDelivery
from cdp_plugin.unit_of_work import Clock, utcnow

log = logging.getLogger(__name__)

BLOCKED = "blocked"
UNREADABLE = "payload.unreadable"


class DeliveryObserver(Protocol):
    """What the sender reports (the gateway's metrics)."""

    def settled(self, destination: str, outcome: str, latencies: Sequence[float]) -> None:
        """``outcome`` (delivered, retried, dead_lettered) for ``len(latencies)``
        events; each latency is the seconds from queueing to now."""


class Sender:
    """Delivers the queued targets of ``plan`` from ``pipeline``'s store.

    ``lock`` serializes the pipeline with its other users (the gateway's
    requests) and is never held while a request is in flight.
    """

    def __init__(self, pipeline: Pipeline, plan: DeliveryPlan, *,
                 lock: AbstractContextManager[Any] | None = None, clock: Clock = utcnow,
                 rng: random.Random | None = None,
                 observer: DeliveryObserver | None = None) -> None:
        self.pipeline = pipeline
        self.plan = plan
        self._lock = lock or nullcontext()
        self._clock = clock
        self._rng = rng or random.Random()
        self._observer = observer

    def deliver_due(self) -> DeliveryReport:
        """One pass over every queued destination (see the module doc).

        Raises StorageError or AuditError if the store or the audit log fails.
        """
        report = DeliveryReport()
        for name in sorted(self.plan.queued):
            report += self._deliver(name)
        return report

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> DeliveryReport:
        """Deliver until ``stop`` is set, sleeping until the next delivery is due
        (at most a poll). With ``until_idle``, stop after the first pass that
        finds nothing due: deliveries waiting for a retry stay queued."""
        total = DeliveryReport()
        while not stop.is_set():
            report = self.deliver_due()
            total += report
            if report.attempted:
                continue
            if until_idle:
                break
            wait = self._next_wait()
            stop.wait(wait if wait is not None else self._poll_seconds())
        return total

    def serve(self, stop: threading.Event) -> None:
        """:meth:`run` in a background thread until ``stop`` is set: a failure
        (store or audit log unavailable) is logged and retried at the next
        poll, the events staying queued."""
        while not stop.is_set():
            try:
                self.run(stop)
            except CdpPluginError as exc:
                log.error("delivery pass failed: %s", type(exc).__name__)
                stop.wait(self._poll_seconds())

    def _poll_seconds(self) -> float:
        return min((p.poll_seconds for p in self.plan.policies.values()), default=1.0)

    def _next_wait(self) -> float | None:
        """Seconds until the earliest pending delivery is due (at most one poll), or None."""
        with self._lock:
            dues = [due for name in self.plan.queued
                    if (due := self.pipeline.runtime.store.delivery_next_due(name)) is not None]
        if not dues:
            return None
        return min(self._poll_seconds(), max((min(dues) - self._clock()).total_seconds(), 0.0))

    def _deliver(self, name: str) -> DeliveryReport:
        target, policy = self.plan.queued[name], self.plan.policies[name]
        now = self._clock()
        with self._lock, self.pipeline.unit_of_work():
            leased = self.pipeline.runtime.store.delivery_lease(
                name, now, now + timedelta(seconds=policy.lease_seconds), policy.batch_size)
            if leased:
                self.pipeline.hooks.audit(DeliveryAttempt(
                    name, tuple(d.message_key for d in leased), max(d.attempts for d in leased)))
        report = DeliveryReport()
        failed: set[str] = set()
        blocked: list[QueuedDelivery] = []
        for chunk in _requests(leased, target):
            sendable = [d for d in chunk if d.subject_key not in failed]
            blocked += [d for d in chunk if d.subject_key in failed]
            if not sendable:
                continue
            result = self._send(target, sendable)
            if not result.delivered:
                failed.update(d.subject_key for d in sendable)
            report += self._settle(name, sendable, result)
        if blocked:
            self._give_back(name, blocked)
        return report

    @staticmethod
    def _send(target: QueuedTarget, deliveries: Sequence[QueuedDelivery]) -> SendResult:
        try:
            events = [QueuedEvent(d.message_key, json.loads(d.payload)) for d in deliveries]
        except ValueError:
            return SendResult(False, UNREADABLE, permanent=True)
        try:
            return target.send(events)
        except Exception as exc:  # a target must not raise; if it does, retry
            return SendResult(False, type(exc).__name__)

    def _settle(self, name: str, deliveries: Sequence[QueuedDelivery],
                result: SendResult) -> DeliveryReport:
        policy = self.plan.policies[name]
        now = self._clock()
        if result.delivered:
            groups = [("delivered", now, list(deliveries))]
        else:
            dead = [d for d in deliveries
                    if result.permanent or d.attempts >= policy.max_attempts]
            retried = [d for d in deliveries if d not in dead]
            groups = [("dead", now, dead)]
            if retried:
                wait = policy.backoff(max(d.attempts for d in retried), self._rng)
                wait = max(wait, timedelta(seconds=result.retry_after or 0.0))
                groups.append(("pending", now + wait, retried))
        report = DeliveryReport()
        store = self.pipeline.runtime.store
        with self._lock, self.pipeline.unit_of_work():
            for status, next_at, group in groups:
                if not group:
                    continue
                settled = _still_leased(store, group, status, next_at, result.error, now)
                if not settled:
                    continue  # a later attempt took over (the lease ran out): it reports
                self.pipeline.hooks.audit(_record(name, settled, status, result.error, next_at))
                report += DeliveryReport(delivered=len(settled) * (status == "delivered"),
                                         retried=len(settled) * (status == "pending"),
                                         dead=len(settled) * (status == "dead"))
                self._observe(name, status, settled, now)
        if report.dead:
            log.warning("%d event(s) to %s dead-lettered (%s)", report.dead, name, result.error)
        return report

    def _give_back(self, name: str, deliveries: Sequence[QueuedDelivery]) -> None:
        """Return events never sent (their subject failed earlier in this pass)."""
        now = self._clock()
        with self._lock, self.pipeline.unit_of_work():
            store = self.pipeline.runtime.store
            back = [d for d in deliveries
                    if store.delivery_settle([(d.id, d.attempts)], "pending", now, BLOCKED, now,
                                             count_attempt=False)]
            if back:
                self.pipeline.hooks.audit(DeliveryRetry(
                    name, tuple(d.message_key for d in back), max(d.attempts for d in back),
                    BLOCKED, now))

    def _observe(self, name: str, status: str, deliveries: Sequence[QueuedDelivery],
                 now: datetime) -> None:
        if self._observer is None:
            return
        outcome = {"delivered": "delivered", "pending": "retried"}.get(status, "dead_lettered")
        self._observer.settled(name, outcome, [max((now - d.created_at).total_seconds(), 0.0)
                                               for d in deliveries])


def _still_leased(store: Store, group: Sequence[QueuedDelivery], status: str,
                  next_at: datetime, error: str | None, now: datetime) -> list[QueuedDelivery]:
    """Settle each delivery of ``group`` whose lease is still this attempt's;
    return those settled."""
    return [d for d in group
            if store.delivery_settle([(d.id, d.attempts)], status, next_at, error, now)]


def _record(name: str, deliveries: Sequence[QueuedDelivery], status: str, error: str | None,
            next_at: datetime) -> DeliveryOutcome:
    fields = (name, tuple(d.message_key for d in deliveries),
              max(d.attempts for d in deliveries), error)
    if status == "delivered":
        return DeliveryDelivered(*fields)
    if status == "dead":
        return DeliveryDeadLettered(*fields)
    return DeliveryRetry(*fields, next_at)


def _requests(leased: Sequence[QueuedDelivery], target: QueuedTarget
              ) -> Iterator[list[QueuedDelivery]]:
    """``leased`` in id order, cut into requests within the target's limits
    (an event larger than ``max_bytes`` goes alone; the target answers it)."""
    chunk: list[QueuedDelivery] = []
    size = 0
    for delivery in leased:
        length = len(delivery.payload.encode()) + 1
        if chunk and (len(chunk) >= target.max_events or size + length > target.max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(delivery)
        size += length
    if chunk:
        yield chunk
