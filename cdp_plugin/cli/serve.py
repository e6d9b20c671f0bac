"""`cdp-plugin serve`: the preference-center callback endpoints on waitress."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any, NoReturn

from waitress.server import create_server

from cdp_plugin.callbacks.app import CallbackApp
from cdp_plugin.callbacks.settings import load_settings
from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.errors import CdpPluginError
from cdp_plugin.pipeline import Pipeline

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 3600.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="serve the preference-center callback endpoints",
        description="Serve POST /v1/preferences, POST /v1/subject-requests (access and "
                    "erasure) and the double opt-in confirmation on waitress, and "
                    "deliver queued suppression and erasure notices in the background. "
                    "Requests are authenticated with Standard Webhooks signatures under the "
                    "secrets in CDP_PLUGIN_WEBHOOK_SECRETS (or plugins.callbacks.webhook_secrets "
                    "in the configuration file). Give the server a --worker-id of its own: "
                    "each process writes its own audit log. Stops on SIGTERM or Ctrl-C.")
    add_server_options(serve, port=8080, threads=4)
    serve.add_argument("--no-outbox", action="store_true",
                       help="do not deliver queued notices from this process")
    add_config_options(serve)
    serve.set_defaults(handler=serve_command)


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    # waitress stops its loop cleanly on SystemExit.
    raise SystemExit(0)


def _background(app: CallbackApp, stop: threading.Event, deliver: bool) -> None:
    """Deliver due notices and prune old webhook ids until ``stop`` is set.

    A failure (store or audit log unavailable) is logged and retried at the
    next poll; the notices stay queued.
    """
    outbox = app.outbox()
    next_prune = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_prune:
                app.forget_old_webhooks()
                next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            while deliver and not stop.is_set() and outbox.deliver_due().attempted:
                pass
        except CdpPluginError as exc:
            log.error("background delivery failed: %s", type(exc).__name__)
        stop.wait(app.settings.outbox.poll_seconds)


def serve_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with Pipeline.from_config(config) as pipeline:
        settings = load_settings(config, pipeline.runtime.rules)
        app = CallbackApp(pipeline, settings)
        server = create_server(
            app, host=args.host, port=args.port, threads=args.threads,
            max_request_body_size=settings.max_body_bytes, ident="cdp-plugin")
        stop = threading.Event()
        worker = threading.Thread(target=_background, args=(app, stop, not args.no_outbox),
                                  name="cdp-plugin-outbox", daemon=True)
        worker.start()
        try:
            run_server(server, args.host, args.port)
        finally:
            stop.set()
            worker.join(timeout=2 * settings.outbox.timeout_seconds)
    return 0


def add_server_options(parser: argparse.ArgumentParser, *, port: int, threads: int) -> None:
    """``--host``, ``--port`` and ``--threads`` for a command that serves HTTP."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port,
                        help=f"TCP port (default: {port}; 0 picks a free one, printed at start)")
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"request threads (default: {threads})")


def run_server(server: Any, host: str, port: int) -> None:
    """Announce the address (the chosen port when 0 was asked), serve until
    SIGTERM or Ctrl-C, then close the listening socket."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    print(f"serving on http://{host}:{getattr(server, 'effective_port', port)}", flush=True)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
