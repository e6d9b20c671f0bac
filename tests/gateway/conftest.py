"""A gateway served on loopback by waitress, over a test pipeline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from segment.analytics import Client as SegmentClient
from waitress.server import create_server

from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.errors import StorageError
from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.settings import GatewaySettings
from cdp_plugin.pipeline import Pipeline
from tests.conftest import MakePipeline
from tests.delivery.capture import Capture

WRITE_KEY = "wk_test_5f3a9c"


@dataclass
class Served:
    app: GatewayApp
    url: str

    @property
    def pipeline(self) -> Pipeline:
        return self.app.pipeline


def fail_dedup(monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline,
               times: int = 2) -> dict[str, int]:
    """Make the store's message dedup fail ``times`` times, as a locked database
    does (the gateway answers those requests 503); ``["left"]`` counts down."""
    store = pipeline.runtime.store
    real = store.remember_message
    failures = {"left": times}

    def flaky(message_key: str, at: Any) -> bool:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise StorageError("remember_message failed: database is locked")
        return real(message_key, at)

    monkeypatch.setattr(store, "remember_message", flaky)
    return failures


def track_with_the_sdk(url: str, user_id: str, message_ids: list[str],
                       context: dict[str, Any]) -> list[Exception]:
    """Track ``message_ids`` with the real Segment SDK in the background (batches of
    10, up to 5 retries each) until it is done; the errors it reported."""
    errors: list[Exception] = []
    client = SegmentClient(WRITE_KEY, host=url, max_retries=5, upload_size=10,
                           on_error=lambda exc, batch: errors.append(exc))
    for message_id in message_ids:
        client.track(user_id, "Order Completed", {"revenue": 1}, context=context,
                     message_id=message_id)
    client.flush()
    client.join()
    return errors


@contextmanager
def serving(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    """A WSGI ``app`` served by waitress on a free loopback port; yields its base URL and
    stops the server (its loop thread included) on exit."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4,
                           asyncore_loop_timeout=0.1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closing every channel, from the loop's own thread, empties waitress's
        # socket map, which ends its loop.
        def close_all() -> None:
            for channel in list(server._map.values()):
                channel.close()

        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the gateway server did not stop"


@pytest.fixture
def gateway(make_pipeline: MakePipeline) -> Iterator[Served]:
    app = GatewayApp(make_pipeline(), GatewaySettings((WRITE_KEY,), retry_after_seconds=1))
    with serving(app) as url:
        yield Served(app, url)


DOWN_KEY = "wk_downstream_41b7"


@dataclass
class Downstream(Served):
    """A gateway whose ``esp`` and ``warehouse`` destinations are ``segment``
    targets on capture servers, with a sender delivering in the background."""

    esp: Capture
    warehouse: Capture

    def wait_for(self, esp: int, warehouse: int, timeout: float = 20.0) -> None:
        """Until the captures hold at least this many distinct messageIds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (len({e["messageId"] for e in self.esp.events()}) >= esp
                    and len({e["messageId"] for e in self.warehouse.events()}) >= warehouse):
                return
            time.sleep(0.05)
        raise AssertionError(f"not delivered in {timeout} s: esp "
                             f"{len(self.esp.events())}, warehouse "
                             f"{len(self.warehouse.events())}")


@pytest.fixture
def downstream(make_pipeline: MakePipeline) -> Iterator[Downstream]:
    esp, warehouse = Capture(write_key=DOWN_KEY), Capture(write_key=DOWN_KEY)
    retry = {"base_delay_seconds": 0.05, "max_delay_seconds": 0.2, "poll_seconds": 0.05}
    with serving(esp) as esp_url, serving(warehouse) as warehouse_url:
        pipeline = make_pipeline(delivery={
            name: {"kind": "segment", "url": url, "write_key": DOWN_KEY, "retry": retry}
            for name, url in (("esp", esp_url), ("warehouse", warehouse_url))})
        plan = plan_for(pipeline, pipeline.runtime.config)
        app = GatewayApp(pipeline, GatewaySettings((WRITE_KEY,), retry_after_seconds=1),
                         plan=plan)
        stop = threading.Event()
        sender = Sender(pipeline, plan, lock=app.lock, observer=app.metrics)
        worker = threading.Thread(target=sender.serve, args=(stop,), daemon=True)
        worker.start()
        try:
            with serving(app) as url:
                yield Downstream(app, url, esp, warehouse)
        finally:
            stop.set()
            worker.join(timeout=10)
            plan.close()
