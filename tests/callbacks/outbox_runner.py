"""Deliver a store's outbox until nothing is pending (run as a process by the crash test).

Usage: outbox_runner.py DATA_DIR AUDIT_DIR RULES_DIR DESTINATION_URL
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from cdp_plugin.callbacks.outbox import Outbox
from cdp_plugin.callbacks.settings import CallbackSettings, Destination, OutboxSettings
from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline

WORKER_ID = "outbox-runner"
POLICY = OutboxSettings(max_attempts=4, base_delay_seconds=0.05, max_delay_seconds=0.2,
                        timeout_seconds=1.0, batch_size=4, poll_seconds=0.05,
                        lease_margin_seconds=0.0)


def main(argv: list[str]) -> int:
    data_dir, audit_dir, rules_dir, url = argv
    config = Config(data_dir=Path(data_dir), audit_dir=Path(audit_dir), rules_dir=Path(rules_dir),
                    worker_id=WORKER_ID, load_entrypoints=False)
    settings = CallbackSettings(destinations={"esp": Destination("esp", url)}, outbox=POLICY)
    with Pipeline.from_config(config) as pipeline:
        Outbox(pipeline, settings).run(threading.Event(), until_idle=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
