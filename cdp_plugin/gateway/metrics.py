"""The gateway's Prometheus metrics, with the standard client library.

Each :class:`GatewayMetrics` has a registry of its own, so two gateways in
one process (or in one test run) never share counts. Label values are
bounded: routes are the fixed set, statuses the pipeline's, and reasons are
cut at their first ``:`` (``consent.unmapped:<id>`` and ``invalid:<field>``
name what a client sent, which must not grow the label set without bound).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from cdp_plugin.types import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST


def reason_label(reason: str) -> str:
    """A reason code as a label value: everything before its first ``:``."""
    return reason.partition(":")[0][:64]


class GatewayMetrics:
    """Requests by route and answer, messages by outcome and reason, the time
    from receipt to the committed answer; per destination, events delivered,
    retried and dead-lettered, the time from acceptance to delivery, and the
    queue depth (read from the store at each scrape, through ``queue_depth``)."""

    def __init__(self, queue_depth: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.registry = CollectorRegistry()
        if queue_depth is not None:
            self.registry.register(_QueueDepth(queue_depth))
        self.requests = Counter("cdp_gateway_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.accepted = Counter("cdp_gateway_messages_accepted",
                                "Messages in requests answered 200", registry=self.registry)
        self.outcomes = Counter("cdp_gateway_outcomes",
                                "Decided messages by status (forwarded, dropped, quarantined, "
                                "invalid, duplicate) and first reason", ["status", "reason"],
                                registry=self.registry)
        self.latency = Histogram("cdp_gateway_commit_seconds",
                                 "Seconds from receiving a request to its committed answer",
                                 registry=self.registry)
        self.delivered = Counter("cdp_delivery_events",
                                 "Queued events settled, by destination and outcome "
                                 "(delivered, retried, dead_lettered)",
                                 ["destination", "outcome"], registry=self.registry)
        self.delivery_latency = Histogram(
            "cdp_delivery_latency_seconds",
            "Seconds from acceptance (queueing) to delivery, by destination", ["destination"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=self.registry)

    def settled(self, destination: str, outcome: str, latencies: Sequence[float]) -> None:
        """The sender settled ``len(latencies)`` events (a DeliveryObserver)."""
        self.delivered.labels(destination=destination, outcome=outcome).inc(len(latencies))
        if outcome == "delivered":
            histogram = self.delivery_latency.labels(destination=destination)
            for seconds in latencies:
                histogram.observe(seconds)

    def request(self, route: str, status: int) -> None:
        self.requests.labels(route=route, status=str(status)).inc()

    def decided(self, outcomes: Iterable[Outcome], seconds: float) -> None:
        count = 0
        for outcome in outcomes:
            count += 1
            reason = reason_label(outcome.reasons[0]) if outcome.reasons else ""
            self.outcomes.labels(status=outcome.status.value, reason=reason).inc()
        self.accepted.inc(count)
        self.latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _QueueDepth(Collector):
    """``cdp_delivery_queue_depth``: pending deliveries per destination, read at
    scrape time (0 when the store cannot be read; the scrape must not fail)."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("cdp_delivery_queue_depth",
                                   "Deliveries pending per destination", labels=["destination"])
        try:
            depth = self._read()
        except Exception:  # a failing store shows as no samples, never as a failed scrape
            depth = {}
        for destination, count in sorted(depth.items()):
            family.add_metric([destination], count)
        yield family
