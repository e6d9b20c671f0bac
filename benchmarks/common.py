"""What the benchmarks share: the repository's rules, a throwaway pipeline, the JSON floor."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdp_plugin.config import Config  # noqa: E402
from cdp_plugin.pipeline import Pipeline  # noqa: E402


@contextmanager
def scratch_pipeline(**overrides: Any) -> Iterator[Pipeline]:
    """A pipeline on the shipped rules with its store, keys and audit log in a
    temporary directory, removed afterwards; no entry-point plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(data_dir=Path(tmp) / "data", audit_dir=Path(tmp) / "audits",
                        rules_dir=ROOT / "rules", load_entrypoints=False)
        with Pipeline.from_config(config.with_overrides(**overrides)) as pipeline:
            yield pipeline


def json_floor(lines: Iterable[str | bytes]) -> None:
    """The least any ingest step does per event: decode and re-encode it."""
    for line in lines:
        json.dumps(json.loads(line), separators=(",", ":"))
