"""The hook boundary: pluggy's call loop with the error policy of each kind of hook."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import pytest

from cdp_plugin import hookimpl
from cdp_plugin.errors import AuditError
from cdp_plugin.manager import DEFAULT_PLUGINS, blocked_names, plugin_names
from cdp_plugin.types import ConsentView, Decision, Event, IngestError, Status
from tests.conftest import MakePipeline, audit_records
from tests.events import ALL_GRANTED, track


def test_observers_run_in_pluggys_order_through_wrappers_and_in_isolation(
        make_pipeline: MakePipeline, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    class Around:
        @hookimpl(wrapper=True)
        def cdp_ingest_error(self) -> Generator[None, Any, Any]:
            calls.append("around:before")
            result = yield
            calls.append("around:after")
            return result

    class First:
        @hookimpl(tryfirst=True)
        def cdp_ingest_error(self, error: IngestError) -> None:
            calls.append(f"first:{error.stage}")

    class Plain:
        @hookimpl
        def cdp_ingest_error(self) -> None:
            calls.append("plain")

    class Broken:  # registered after Plain, so pluggy calls it before Plain
        @hookimpl
        def cdp_ingest_error(self, error: IngestError) -> None:
            calls.append("broken")
            raise RuntimeError(f"observer bug about {error.message_id}")

    pipeline = make_pipeline(Plain(), Broken(), First(), Around())
    with caplog.at_level(logging.ERROR):
        outcome = pipeline.process({"type": "track", "messageId": "m-secret-1"})
    assert outcome.status is Status.INVALID
    assert calls == ["around:before", "first:validation", "broken", "plain", "around:after"]
    failures = [r.getMessage() for r in caplog.records if r.name == "cdp_plugin.hookpolicy"]
    assert failures == ["observer Broken failed in cdp_ingest_error: RuntimeError"]
    assert "m-secret-1" not in caplog.text


def test_failing_observer_wrapper_is_isolated(make_pipeline: MakePipeline,
                                              caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    class BrokenAround:
        @hookimpl(wrapper=True)
        def cdp_ingest_error(self) -> Generator[None, Any, Any]:
            yield
            raise ValueError("teardown bug")

    class Plain:
        @hookimpl
        def cdp_ingest_error(self) -> None:
            calls.append("plain")

    pipeline = make_pipeline(Plain(), BrokenAround())
    with caplog.at_level(logging.ERROR):
        assert pipeline.process({"type": "track"}).status is Status.INVALID
    assert calls == ["plain"]
    assert "observer BrokenAround failed in cdp_ingest_error: ValueError" in caplog.text


def test_failing_decider_is_named_by_its_plugin_not_the_wrapper_around_it(
        make_pipeline: MakePipeline) -> None:
    seen: list[str] = []

    class Timing:
        @hookimpl(wrapper=True)
        def cdp_decide(self) -> Generator[None, Any, Any]:
            try:
                return (yield)
            except LookupError as exc:
                seen.append(type(exc).__name__)
                raise

    class Faulty:
        @hookimpl(tryfirst=True)
        def cdp_decide(self, event: Event, consent: ConsentView) -> Decision:
            raise KeyError("lookup table")

    pipeline = make_pipeline(Timing(), Faulty())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.status is Status.DROPPED
    assert outcome.reasons == ("plugin_error", "plugin:Faulty")
    assert seen == ["KeyError"]  # the wrapper saw the original exception
    [record] = audit_records(pipeline, "plugin.error")
    assert (record["plugin"], record["hook"], record["error_type"]) == (
        "Faulty", "cdp_decide", "KeyError")


def test_wrapper_that_raises_its_own_error_is_named(make_pipeline: MakePipeline) -> None:
    class Strict:
        @hookimpl(wrapper=True)
        def cdp_minimize_event(self) -> Generator[None, Any, Any]:
            yield
            raise ValueError("refuses every payload")

    pipeline = make_pipeline(Strict())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.reasons == ("plugin_error", "plugin:Strict")


def test_audit_error_from_a_deciding_hook_propagates(make_pipeline: MakePipeline) -> None:
    class AuditingDecider:
        @hookimpl(tryfirst=True)
        def cdp_decide(self) -> None:
            raise AuditError("audit log: cannot write")

    pipeline = make_pipeline(AuditingDecider())
    with pytest.raises(AuditError, match="cannot write"):
        pipeline.process(track("m-1", consent=ALL_GRANTED))


def test_blocked_plugins_are_not_listed_as_loaded(make_pipeline: MakePipeline) -> None:
    blocked = "cdp_plugin.stages.segmentation"
    pipeline = make_pipeline(blocked_plugins=(blocked,))
    assert plugin_names(pipeline.pm) == [n for n in DEFAULT_PLUGINS if n != blocked]
    assert blocked_names(pipeline.pm) == [blocked]
    [record] = audit_records(pipeline, "rules.loaded")
    assert blocked not in record["plugins"]
    assert "cdp_plugin.stages.consent" in record["plugins"]
