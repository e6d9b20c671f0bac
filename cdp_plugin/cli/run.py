"""`cdp-plugin run` and `cdp-plugin demo`: events through the pipeline, forwarded ones out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from cdp_plugin.cli.common import Progress, Summary, add_config_options, config_from_args
from cdp_plugin.cli.demo_experiments import (
    arms_as_json,
    render,
    run_demo_experiments,
    write_html,
)
from cdp_plugin.delivery.config import DeliveryPlan, plan_for
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.delivery.targets import JsonlTarget
from cdp_plugin.errors import ConfigError
from cdp_plugin.gateway.envelope import jsonl_batch
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.synthetic import DEFAULT_START, generate_stream

BATCH_SIZE = 500


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run", help="run a JSONL file of events through the pipeline",
        description="Run Segment Spec events (one JSON object per line) through the pipeline "
                    "and write the forwarded, minimized events as JSONL.")
    run.add_argument("events", metavar="EVENTS.jsonl", help="input file, or - for stdin")
    run.add_argument("--out", metavar="FORWARDED.jsonl", required=True,
                     help="output file for forwarded events, appended to and fsynced before "
                          "each batch commits (at least once across a crash and a re-run), "
                          "or - for stdout")
    run.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="events per transaction")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_config_options(run)
    run.set_defaults(handler=run_command)

    demo = commands.add_parser(
        "demo", help="run a synthetic, realistic event stream through the pipeline",
        description="Generate a deterministic synthetic stream (onboarding, browsing, carts, "
                    "purchases, email engagement, mixed consent, preference updates) and run it "
                    "through the pipeline on a fresh demo store.")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same output)")
    demo.add_argument("--subjects", type=int, default=3000, help="number of synthetic subjects")
    demo.add_argument("--days", type=int, default=30, help="days of activity")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_config_options(demo)
    demo.set_defaults(handler=demo_command)


def _lines(source: IO[bytes]) -> Iterator[bytes | dict[str, Any]]:
    """Each non-empty line; a line holding a Segment batch envelope is expanded
    into its messages (:func:`cdp_plugin.gateway.envelope.jsonl_batch`)."""
    for line in source:
        if not line.strip():
            continue
        messages = jsonl_batch(line, datetime.now(UTC))
        if messages is None:
            yield line
        else:
            yield from messages


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    summary = Summary()
    with ExitStack() as stack:
        if args.events == "-":
            source: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            source = stack.enter_context(_open_input(args.events))
            total = os.fstat(source.fileno()).st_size
            if args.out != "-" and _same_file(args.events, args.out):
                raise ConfigError(f"--out {args.out} is the input file: writing it would "
                                  "empty the input before it is read; choose another file")
        out = JsonlTarget("-", stream=sys.stdout) if args.out == "-" else JsonlTarget(args.out)
        stack.callback(out.close)
        pipeline = stack.enter_context(Pipeline.from_config(config))
        plan = plan_for(pipeline, config)
        stack.callback(plan.close)
        progress = Progress(total)
        batch: list[bytes | dict[str, Any]] = []
        done_bytes = 0
        for line in _lines(source):
            batch.append(line)
            done_bytes += len(line) if isinstance(line, bytes) else 0
            if len(batch) >= args.batch_size:
                _process(pipeline, batch, out, summary, plan)
                progress.update(summary.processed, done_bytes)
        _process(pipeline, batch, out, summary, plan)
        progress.finish(summary.processed)
    summary.emit(args.json, sys.stderr if args.out == "-" and not args.json else sys.stdout)
    return 0


def _open_input(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or type(error).__name__}"
                          ) from None


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # the output does not exist yet
        return False


def _process(pipeline: Pipeline, batch: list[bytes | dict[str, Any]], out: JsonlTarget,
             summary: Summary, plan: DeliveryPlan | None = None) -> None:
    """Decide one batch and append its forwarded events durably (the ``jsonl``
    delivery target) before the batch commits: a crash before the commit leaves
    the events unseen, so a re-run forwards them again (at least once); after
    it, they are already written. The ``delivery:`` targets get them in the
    same unit of work (queued ones are sent by ``cdp-plugin delivery run``)."""
    if batch:
        with pipeline.unit_of_work():
            outcomes = pipeline.process_batch(list(batch))
            out.write(o.event for o in outcomes if o.event is not None)
            if plan:
                hand_over(pipeline, plan, outcomes)
        summary.add(outcomes)
        batch.clear()


def _fresh_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def demo_command(args: argparse.Namespace) -> int:
    base = config_from_args(args)
    demo_dir = base.data_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    store_path = demo_dir / "demo.sqlite3"
    _fresh_store(store_path)
    config = base.with_overrides(store=str(store_path), worker_id="demo")
    forwarded_path = demo_dir / "forwarded.jsonl"
    events_path = demo_dir / "events.jsonl"
    summary = Summary()
    preferences = 0
    subjects: dict[str, None] = {}  # those with a preference-center choice, in stream order
    with ExitStack() as stack:
        forwarded_path.unlink(missing_ok=True)  # a fresh demo, like its store
        out = JsonlTarget(forwarded_path)
        stack.callback(out.close)
        raw_out = stack.enter_context(open(events_path, "w", encoding="utf-8"))
        pipeline = stack.enter_context(Pipeline.from_config(config))
        progress = Progress()
        batch: list[bytes | dict[str, Any]] = []
        for item in generate_stream(seed=args.seed, subjects=args.subjects, days=args.days):
            if item.event is not None:
                line = json.dumps(item.event, separators=(",", ":"), ensure_ascii=False)
                raw_out.write(line + "\n")
                batch.append(line.encode())
                if len(batch) >= BATCH_SIZE:
                    _process(pipeline, batch, out, summary)
                    progress.update(summary.processed)
            elif item.preference is not None:
                _process(pipeline, batch, out, summary)  # keep the stream's order
                with pipeline.unit_of_work():
                    released = pipeline.record_consent(item.preference).released
                    out.write(o.event for o in released if o.event is not None)
                summary.add_released(released)
                preferences += 1
                subjects[item.preference.subject_id] = None
        _process(pipeline, batch, out, summary)

        def process(events: list[dict[str, Any]]) -> None:
            for event in events:
                raw_out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False)
                              + "\n")
            _process(pipeline, list(events), out, summary)

        # After the stream, so the stream's own events and outcomes stay as they were.
        experiments = run_demo_experiments(pipeline, list(subjects),
                                           DEFAULT_START + timedelta(days=args.days),
                                           args.seed, process)
        progress.finish(summary.processed)
        audit_dir = pipeline.runtime.audit_log.directory
        experiments_text = render(pipeline, experiments)
        html_path = demo_dir / "experiments.html"
        write_html(pipeline, experiments, html_path)
    if args.json:
        print(json.dumps({**summary.as_dict(), "experiments": arms_as_json(experiments)},
                         sort_keys=True))
    else:
        summary.emit(False)
        print(experiments_text)
        print(f"\nexperiments report          {html_path}")
    if not args.json:
        print(f"\npreference updates applied  {preferences}")
        print(f"input events                {events_path}")
        print(f"forwarded events            {forwarded_path}")
        print(f"store (SQLite)              {store_path}")
        print(f"audit log                   {audit_dir}")
    return 0
