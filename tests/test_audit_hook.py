"""``cdp_write_audit`` receives typed records, and only typed records are written."""

from __future__ import annotations

import json

import pytest

from cdp_plugin import hookimpl
from cdp_plugin.audit.records import AuditRecord, EventDuplicate, OptinCancelled
from cdp_plugin.errors import AuditError
from tests.conftest import MakePipeline, audit_lines, audit_records


class Sink:
    """A second audit writer that keeps what it is given and lets the built-in one write."""

    def __init__(self) -> None:
        self.received: list[AuditRecord] = []

    @hookimpl(tryfirst=True)
    def cdp_write_audit(self, record: AuditRecord) -> None:
        self.received.append(record)


def test_a_typed_record_reaches_the_hook_and_the_log(make_pipeline: MakePipeline) -> None:
    sink = Sink()
    pipeline = make_pipeline(sink)
    record = OptinCancelled("s_" + "ab" * 16, "email", 2)

    entry = pipeline.hooks.audit(record)

    assert sink.received[-1] is record
    [written] = audit_records(pipeline, "optin.cancelled")
    assert written["seq"] == entry.index
    assert {k: v for k, v in written.items() if k not in ("seq", "ts")} == record.as_dict()


def test_every_record_the_pipeline_writes_reaches_the_hook_typed(
        make_pipeline: MakePipeline) -> None:
    sink = Sink()
    pipeline = make_pipeline(sink)
    subject = "s_" + "cd" * 16

    pipeline.hooks.audit(EventDuplicate("m-1", subject))

    assert [type(r).__name__ for r in sink.received] == ["RulesLoaded", "EventDuplicate"]
    pipeline.runtime.audit_log.flush()
    last = json.loads(audit_lines(pipeline)[-1])
    assert (last["kind"], last["message_id"], last["subject"]) == (
        "event.duplicate", "m-1", subject)


@pytest.mark.parametrize("record", [
    {"kind": "event.duplicate", "message_id": "m-1", "subject": "s_1"},
    {"kind": "custom.thing", "detail": "x"},
])
def test_a_loose_dict_is_refused_and_nothing_written(make_pipeline: MakePipeline,
                                                     record: dict[str, str]) -> None:
    pipeline = make_pipeline()
    size = pipeline.runtime.audit_log.size

    with pytest.raises(AuditError, match="not an audit record"):
        pipeline.hooks.audit(record)  # type: ignore[arg-type]

    assert pipeline.runtime.audit_log.size == size
