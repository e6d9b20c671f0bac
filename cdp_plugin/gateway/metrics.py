"""The gateway's Prometheus metrics, with the standard client library.

Each :class:`GatewayMetrics` has a registry of its own, so two gateways in
one process (or in one test run) never share counts. Label values are
bounded: routes are the fixed set, statuses the pipeline's, and reasons are
cut at their first ``:`` (``consent.unmapped:<id>`` and ``invalid:<field>``
name what a client sent, which must not grow the label set without bound).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cdp_plugin.types import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST


def reason_label(reason: str) -> str:
    """A reason code as a label value: everything before its first ``:``."""
    return reason.partition(":")[0][:64]


class GatewayMetrics:
    """Requests by route and answer, messages by outcome and reason, and the
    time from receipt to the committed answer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
