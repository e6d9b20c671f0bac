"""`cdp-plugin gateway`: the Segment-compatible ingest endpoint on waitress.

waitress is the server because the callbacks already run on it: a pure-Python,
well-maintained production WSGI server with no C build, bounded request
bodies and a thread pool, which is what a lock-serialized pipeline needs.
"""

from __future__ import annotations

import argparse
import threading

from waitress.server import create_server

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.cli.serve import add_server_options, run_server
from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.gateway.app import GatewayApp
from cdp_plugin.gateway.envelope import MAX_BATCH_BYTES
from cdp_plugin.gateway.settings import load_gateway_settings
from cdp_plugin.pipeline import Pipeline


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = commands.add_parser(
        "gateway", help="serve the Segment-compatible ingest endpoint",
        description="Accept events from Segment and RudderStack SDKs and analytics.js "
                    "(POST /v1/batch, /v1/track... and the short routes /v1/t...), "
                    "authenticated by write key (CDP_PLUGIN_WRITE_KEYS or gateway.write_keys). "
                    "Each request is decided and committed before it is answered; forwarded "
                    "events go to the targets of the delivery: section, at least once. Give "
                    "each process a --worker-id of its own. Stops on SIGTERM or Ctrl-C.")
    add_server_options(gateway, port=8088, threads=8)
    gateway.add_argument("--no-delivery", action="store_true",
                         help="queue deliveries but do not send them from this process "
                              "(another runs `cdp-plugin delivery run`)")
    add_config_options(gateway)
    gateway.set_defaults(handler=gateway_command)


def gateway_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    settings = load_gateway_settings(config)
    with Pipeline.from_config(config) as pipeline:
        plan = plan_for(pipeline, config)
        app = GatewayApp(pipeline, settings, plan=plan)
        stop = threading.Event()
        sender = Sender(pipeline, plan, lock=app.lock, observer=app.metrics)
        worker = threading.Thread(target=sender.serve, args=(stop,), name="cdp-plugin-delivery",
                                  daemon=True)
        if plan.queued and not args.no_delivery:
            worker.start()
        # Bodies are bounded by the app itself (and gzip before inflating); the
        # server's own cap only stops a client streaming far beyond it.
        server = create_server(app, host=args.host, port=args.port, threads=args.threads,
                               max_request_body_size=MAX_BATCH_BYTES + 1, ident="cdp-plugin")
        try:
            run_server(server, args.host, args.port)
        finally:
            stop.set()
            if worker.is_alive():
                worker.join(timeout=30)
            plan.close()
    return 0
