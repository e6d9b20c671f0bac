"""A gateway served on loopback by waitress, over a test pipeline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from waitress.server import create_server

from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.settings import GatewaySettings
from cdp_plugin.pipeline import Pipeline
from tests.conftest import MakePipeline

WRITE_KEY = "wk_test_5f3a9c"


@dataclass
class Served:
    app: GatewayApp
    url: str

    @property
    def pipeline(self) -> Pipeline:
        return self.app.pipeline


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
