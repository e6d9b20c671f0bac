"""`cdp-plugin delivery run|status|requeue`: the queued deliveries of ``delivery:``."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from types import FrameType
from typing import Any

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.delivery.admin import queue_status, requeue
from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.errors import ConfigError
from cdp_plugin.pipeline import Pipeline


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    delivery = commands.add_parser(
        "delivery", help="send, inspect and requeue queued deliveries",
        description="Forwarded events for the queued targets of the delivery: section "
                    "(segment, webhook, postgres) wait in the store until they are sent.")
    actions = delivery.add_subparsers(dest="delivery_command", metavar="COMMAND",
                                      required=True)
    run = actions.add_parser(
        "run", help="send queued deliveries until stopped",
        description="Send due deliveries with retries and per-subject order until SIGTERM "
                    "or Ctrl-C (the gateway does this itself unless --no-delivery). Give it a "
                    "--worker-id of its own: each process writes its own audit log.")
    run.add_argument("--until-idle", action="store_true",
                     help="stop once nothing is due (what is waiting for a retry stays queued)")
    add_config_options(run)
    run.set_defaults(handler=run_command)
    status = actions.add_parser(
        "status", help="count deliveries per destination and status; list dead letters",
        description="Counts per destination and status (pending, delivered, dead, "
                    "cancelled) and the oldest dead letters, by id and message pseudonym: "
                    "never their content.")
    status.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(status)
    status.set_defaults(handler=status_command)
    again = actions.add_parser(
        "requeue", help="make dead letters pending again",
        description="Make dead-lettered deliveries pending again, due now, with no attempts "
                    "counted; audited (delivery.requeued).")
    again.add_argument("--destination", help="only this destination's dead letters")
    again.add_argument("--id", dest="ids", type=int, action="append", metavar="ID",
                       help="only this delivery (repeatable; ids from `delivery status`)")
    add_config_options(again)
    again.set_defaults(handler=requeue_command)


def _stop_on_signal(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    with Pipeline.from_config(config) as pipeline:
        plan = plan_for(pipeline, config)
        try:
            if not plan.queued:
                raise ConfigError("delivery: no queued target (segment, webhook, postgres) "
                                  "is configured")
            stop = threading.Event()
            _stop_on_signal(stop)
            report = Sender(pipeline, plan).run(stop, until_idle=args.until_idle)
        finally:
            plan.close()
    print(f"delivered {report.delivered}, retried {report.retried}, "
          f"dead-lettered {report.dead}")
    return 0


def status_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        status = queue_status(pipeline)
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0


def render(status: dict[str, Any]) -> str:
    """The counts as an aligned table, then the dead letters."""
    lines = [f"{'destination':<24}{'pending':>9}{'delivered':>11}{'dead':>7}{'cancelled':>11}"]
    for name, counts in status["destinations"].items():
        lines.append(f"{name:<24}{counts['pending']:>9}{counts['delivered']:>11}"
                     f"{counts['dead']:>7}{counts['cancelled']:>11}")
    if len(lines) == 1:
        lines.append("(nothing queued)")
    for dead in status["dead_letters"]:
        lines.append(f"dead #{dead['id']} {dead['destination']} {dead['message']} after "
                     f"{dead['attempts']} attempt(s): {dead['error']} ({dead['dead_at']})")
    return "\n".join(lines)


def requeue_command(args: argparse.Namespace) -> int:
    with Pipeline.from_config(config_from_args(args)) as pipeline:
        requeued = requeue(pipeline, args.destination, args.ids)
    print(f"requeued {len(requeued)} dead letter(s)")
    return 0
