"""The replay's promises: throwaway storage and its own key, never the deployment's;
the events file read as ``run`` reads it; bad files named with line and reason."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdp_plugin.cli import main
from cdp_plugin.config import Config
from cdp_plugin.keys.master import parse_master_keys
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules_diff import EventsFileError, diff_rules
from cdp_plugin.rules_diff.replay import ReplayClock, ReplayedEvent, _numbered, replay
from cdp_plugin.types import Status
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track
from tests.rules_diff.conftest import EditRules

LIVE_KEY = base64.b64encode(bytes(range(1, 33))).decode("ascii")


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, modification time and SHA-256."""
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns,
                                          hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_live_store_keys_and_audit_log_are_untouched(
        tmp_path: Path, edited_rules: EditRules) -> None:
    live_data, live_audit = tmp_path / "live" / "data", tmp_path / "live" / "audits"
    config = Config(data_dir=live_data, audit_dir=live_audit, rules_dir=RULES_DIR,
                    load_entrypoints=False, audit_fsync=False)
    with Pipeline.from_config(config, env={"CDP_PLUGIN_MASTER_KEY": LIVE_KEY}) as live:
        live.process(track("m-live", consent=ALL_GRANTED))
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(track("m-1", consent=ALL_GRANTED)) + "\n", "utf-8")
    new = edited_rules("new", "minimization.yaml", "context.userAgent: keep",
                       "context.userAgent: hash")
    before = _tree(tmp_path / "live")
    # The deployment's settings all point at the live place; the diff must use none.
    env = {**os.environ, "CDP_PLUGIN_DATA_DIR": str(live_data),
           "CDP_PLUGIN_AUDIT_DIR": str(live_audit), "CDP_PLUGIN_MASTER_KEY": LIVE_KEY,
           "CDP_PLUGIN_STORE": str(live_data / "cdp.sqlite3"), "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "cdp_plugin.cli", "rules", "diff",
                          str(RULES_DIR), str(new), str(events), "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr
    assert _tree(tmp_path / "live") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "live", "new"]
    report = json.loads(run.stdout)
    [change] = [c for c in report["fields"]["changes"] if c["field"] == "context.userAgent"
                and c["destination"] == "warehouse"]
    assert change["change"] == "action_changed"
    assert change["before"] == {"keep": 1} and change["after"] == {"hash": 1}
    live_pseudonym = Pseudonymizer(parse_master_keys(LIVE_KEY, "test")).message("m-1")
    assert change["examples"] == [{"message": change["examples"][0]["message"], "line": 1}]
    assert change["examples"][0]["message"].startswith("m_")
    assert change["examples"][0]["message"] != live_pseudonym  # not the deployment's key
    assert "m-1" not in run.stdout


def test_an_unreadable_events_file_is_named_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.jsonl"
    assert main(["rules", "diff", str(RULES_DIR), str(RULES_DIR), str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "No such file or directory" in err
    assert main(["rules", "diff", str(RULES_DIR), str(RULES_DIR), str(tmp_path)]) == 2
    assert "Is a directory" in capsys.readouterr().err


class _FailingSource(io.BytesIO):
    """A file whose third line cannot be read (an I/O error mid-file)."""

    def readline(self, size: int | None = -1) -> bytes:
        if self.tell() >= 4:
            raise OSError(5, "Input/output error")
        return super().readline(size)


def test_a_line_that_cannot_be_read_is_named_by_number() -> None:
    lines = _numbered(_FailingSource(b"{}\n\n{}\n"), Path("events.jsonl"), datetime.now(UTC))
    assert next(lines) == (1, b"{}\n")
    with pytest.raises(EventsFileError, match=r"events\.jsonl: line 3: cannot be read: "
                                              r"Input/output error"):
        next(lines)


def test_a_malformed_line_is_invalid_on_both_sides(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"type": "track"\n' + json.dumps(track("m-1")).encode() + b"\n")
    seen: list[ReplayedEvent] = []
    end = replay(RULES_DIR, RULES_DIR, events, seen.append)
    assert [(e.line, e.old.status, e.new.status) for e in seen] == [
        (1, Status.INVALID, Status.INVALID), (2, seen[1].old.status, seen[1].old.status)]
    assert seen[0].message is None and end.messages == 2 and end.lines == 2


def test_the_clock_follows_event_time_and_never_passes_the_ceiling() -> None:
    clock = ReplayClock(datetime(2026, 12, 1, tzinfo=UTC))
    assert clock() == clock.ceiling  # nothing dated seen yet
    clock.advance(b'{"timestamp": "2026-10-02T10:00:00Z"}')
    clock.advance({"originalTimestamp": "2026-10-01T10:00:00+02:00"})  # earlier: stays
    assert clock() == datetime(2026, 10, 2, 10, tzinfo=UTC)
    clock.advance(b"not json")
    clock.advance({"timestamp": "2099-01-01T00:00:00Z"})
    assert clock() == clock.ceiling


def test_both_sides_decide_a_message_at_its_own_time(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(track(f"m-{i}", consent=ALL_GRANTED,
                                                 timestamp=f"2026-10-0{i}T10:00:00Z"))
                                for i in (1, 2)) + "\n", "utf-8")
    diff = diff_rules(RULES_DIR, RULES_DIR, events, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert diff.replayed_until == datetime(2026, 10, 2, 10, tzinfo=UTC)
    assert diff.differences == 0
