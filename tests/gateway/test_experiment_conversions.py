"""Conversions for an experiment arrive the way a shop sends orders: through the
real Segment SDK to the gateway, with the client's own (hostile) timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segment.analytics import Client as SegmentClient

from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.settings import GatewaySettings
from tests.conftest import MakePipeline, audit_records
from tests.experiments.scenario import experiment_rules, opt_in
from tests.gateway.conftest import WRITE_KEY, serving

CONSENTED = {"location": {"country": "DE"},
             "consent": {"categoryPreferences": {"Marketing": True, "Analytics": True}}}


def test_orders_sent_by_the_sdk_convert_within_the_window_and_no_later_than_received(
        make_pipeline: MakePipeline, tmp_path: Path) -> None:
    pipeline = make_pipeline(rules_dir=experiment_rules(tmp_path))
    user = "sdk-buyer@example.com"
    exposed_at = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0,
                                                                 microsecond=0)
    opt_in(pipeline, user, at=exposed_at - timedelta(days=1))
    assert pipeline.may_contact(user, "email", at=exposed_at, experiment="copy").allowed

    errors: list[Exception] = []
    app = GatewayApp(pipeline, GatewaySettings((WRITE_KEY,), retry_after_seconds=1))
    with serving(app) as url:
        client = SegmentClient(WRITE_KEY, host=url, max_retries=5,
                               on_error=lambda exc, batch: errors.append(exc))
        orders: list[tuple[timedelta, float]] = [
            (timedelta(hours=1), 20.0),    # an order the day after the send
            (timedelta(hours=2), 5.5),
            (timedelta(days=30), 100.0),   # dated a month ahead by the client
            (-timedelta(days=2), 7.0),     # dated before the send: not a conversion
        ]
        for n, (offset, revenue) in enumerate(orders):
            properties: dict[str, Any] = {"revenue": revenue, "currency": "EUR"}
            client.track(user, "Order Completed", properties, context=CONSENTED,
                         timestamp=exposed_at + offset, message_id=f"sdk-order-{n}")
        client.flush()
        client.join()
        received_by = datetime.now(UTC)
    assert errors == []

    key = pipeline.runtime.pseudonymizer.subject(user)
    row = pipeline.runtime.store.experiment_subject("copy", key)
    assert row is not None and row.converted
    # The month-ahead order counts as of its receipt, inside the window (as an in-event
    # consent signal counts no later than its receipt); the backdated one not at all.
    assert row.revenue == 20.0 + 5.5 + 100.0
    converted = [r for r in audit_records(pipeline, "experiment.converted")
                 if r["subject"] == key]
    assert len(converted) == 3
    assert user not in str(converted)
    assert row.converted_at == exposed_at + timedelta(hours=1)
    assert received_by > row.converted_at
