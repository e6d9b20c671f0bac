"""The JSONL file target: appended to, and a torn last line from a killed run cut off."""

from __future__ import annotations

import json
from pathlib import Path

from cdp_plugin.delivery.targets import JsonlTarget


def test_a_torn_last_line_is_cut_before_the_next_run_appends(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"messageId":"m-1"}\n{"messageId":"m-2","userId":"h1:ab')  # killed mid-line
    target = JsonlTarget(out)
    target.write([{"messageId": "m-2"}, {"messageId": "m-3"}])
    target.close()
    lines = out.read_text().splitlines()
    assert [json.loads(line)["messageId"] for line in lines] == ["m-1", "m-2", "m-3"]


def test_a_file_of_one_torn_line_is_emptied_and_a_whole_file_kept(tmp_path: Path) -> None:
    torn, whole = tmp_path / "torn.jsonl", tmp_path / "whole.jsonl"
    torn.write_text('{"messageId":"m-1"' * 5000)  # longer than one backwards read
    whole.write_text('{"messageId":"m-1"}\n')
    for path in (torn, whole):
        JsonlTarget(path).close()
    assert torn.read_text() == ""
    assert whole.read_text() == '{"messageId":"m-1"}\n'
