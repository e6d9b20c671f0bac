"""One writer per audit log: a second one, in this process or another, is refused
with a clear message, and the lock is free again once the writer closes or dies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner
from cdp_plugin.cli import main
from cdp_plugin.errors import ConfigError
from cdp_plugin.keys.audit_signer import generate_signer_key
from tests.conftest import RULES_DIR
from tests.events import ALL_GRANTED, track

ORIGIN = "cdp-plugin/w0"

HOLDER = """
import sys, time
from pathlib import Path
from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner
log = AuditLog(Path(sys.argv[1]), "cdp-plugin/w0", NoteSigner(sys.argv[2]), fsync=False)
log.append({"kind": "event.decision"})
log.flush()
print("holding", flush=True)
time.sleep(60)
"""


KEY = generate_signer_key("lock-test")  # a log keeps one signing key: every writer uses it


def _signer() -> NoteSigner:
    return NoteSigner(KEY)


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path, ORIGIN, _signer(), fsync=False) as first:
        first.append({"kind": "event.decision"})
        with pytest.raises(ConfigError, match=r"already open for writing.*'cdp-plugin/w0'"):
            AuditLog(tmp_path, ORIGIN, _signer(), fsync=False)
        first.append({"kind": "event.decision"})  # the first writer is unharmed
    with AuditLog(tmp_path, ORIGIN, _signer(), fsync=False) as again:
        assert again.size == 2  # free once closed


def test_a_writer_in_another_process_is_refused_until_it_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), KEY],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(ConfigError, match="give each process its own worker_id"):
            AuditLog(tmp_path, ORIGIN, _signer(), fsync=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with AuditLog(tmp_path, ORIGIN, _signer(), fsync=False) as log:  # the kernel freed it
        assert log.size == 1


def test_two_runs_with_one_worker_id_exit_2_and_leave_the_log_intact(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_PLUGIN_AUDIT_SIGNING_KEY", KEY)
    events = tmp_path / "ev.jsonl"
    events.write_text("".join(json.dumps(track(f"m-{i}", consent=ALL_GRANTED)) + "\n"
                              for i in range(3)))
    options = ["--rules", str(RULES_DIR), "--data-dir", str(tmp_path / "data"),
               "--audit-dir", str(tmp_path / "audits")]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "audits"), KEY],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        code = main(["run", str(events), "--out", str(tmp_path / "o.jsonl"), *options])
        err = capsys.readouterr().err
        assert code == 2 and "already open for writing" in err and "Traceback" not in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(["run", str(events), "--out", str(tmp_path / "o.jsonl"), *options]) == 0
