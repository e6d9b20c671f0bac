"""What the benchmarks share: the repository's rules, a throwaway pipeline, the JSON floor."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp_plugin.config import Config  # noqa: E402
from cdp_plugin.pipeline import Pipeline  # noqa: E402
from cdp_plugin.types import ConsentUpdate, Outcome, Status  # noqa: E402


@contextmanager
def scratch_pipeline(**overrides: Any) -> Iterator[Pipeline]:
    """A pipeline on the shipped rules with its store, keys and audit log in a
    temporary directory, removed afterwards; no entry-point plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(data_dir=Path(tmp) / "data", audit_dir=Path(tmp) / "audits",
                        rules_dir=ROOT / "rules", load_entrypoints=False)
        with Pipeline.from_config(config.with_overrides(**overrides)) as pipeline:
            yield pipeline


Item = bytes | ConsentUpdate
"""One item of a benchmark stream: an event as a JSON line, or a preference update."""


def feed(pipeline: Pipeline, items: Iterable[Item], batch_size: int,
         seen: Callable[[Outcome], None] | None = None) -> None:
    """Run ``items`` through ``pipeline`` in stream order: events in batches of
    ``batch_size``, each preference update between them on its own, and the host's
    ``json.dumps`` of every forwarded event; ``seen`` gets each outcome."""
    batch: list[bytes] = []

    def run() -> None:
        for outcome in pipeline.process_batch(batch):
            if outcome.status is Status.FORWARDED:
                json.dumps(outcome.event, separators=(",", ":"))
            if seen is not None:
                seen(outcome)
        batch.clear()

    for item in items:
        if isinstance(item, bytes):
            batch.append(item)
            if len(batch) >= batch_size:
                run()
        else:
            run()
            pipeline.record_consent(item)
    run()


def json_floor(lines: Iterable[str | bytes]) -> None:
    """The least any ingest step does per event: decode and re-encode it."""
    for line in lines:
        json.dumps(json.loads(line), separators=(",", ":"))


def orjson_floor(lines: Iterable[str | bytes]) -> None:
    """The same pass-through with orjson, the fastest well-kept JSON library."""
    for line in lines:
        orjson.dumps(orjson.loads(line))


@contextmanager
def scratch_store(dsn: str | None) -> Iterator[str | None]:
    """``None`` (the pipeline's own SQLite file) or, for a ``postgresql://`` DSN, that
    DSN pointed at a new schema of its own, dropped with everything in it afterwards."""
    if dsn is None:
        yield None
        return
    import psycopg
    from psycopg import sql

    schema = f"cdp_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            separator = "&" if "?" in dsn else "?"
            yield f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
