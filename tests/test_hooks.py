"""The hook boundary: pluggy's call loop with the error policy of each kind of hook,
and the hooks through which the host reaches what a stage keeps about subjects."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_plugin import hookimpl
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.subjects import erase_subject, export_subject
from cdp_plugin.delivery.config import plan_for
from cdp_plugin.delivery.queue import hand_over
from cdp_plugin.delivery.sender import Sender
from cdp_plugin.delivery.targets import QueuedEvent, SendResult
from cdp_plugin.errors import AuditError, ConfigError, PluginError
from cdp_plugin.manager import DEFAULT_PLUGINS, blocked_names, plugin_names
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.runtime import Runtime
from cdp_plugin.storage import Store
from cdp_plugin.storage.sqlite import SQLiteStore
from cdp_plugin.types import (
    ConsentChange,
    ConsentState,
    ConsentUpdate,
    ConsentView,
    Decision,
    Event,
    IngestError,
    SegmentChange,
    Status,
)
from tests.conftest import MakePipeline, audit_records, message_keys
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


# --- subject state kept by stages: consent changes, tick, export, erasure -------------

USER = "user-alice@example.com"
T = datetime(2026, 11, 1, tzinfo=UTC)
GRANT_ALL = {"analytics": True, "personalization": True, "marketing": True}
SEGMENTATION = "cdp_plugin.stages.segmentation"


def _segmented_subject(pipeline: Pipeline) -> str:
    """A subject with features and memberships, under every purpose."""
    pipeline.record_consent(ConsentUpdate(USER, T, "preference_center", purposes=GRANT_ALL))
    for i in range(8):
        pipeline.process(track(f"o-{i}", revenue=20.0, timestamp=f"2026-11-2{i}T10:00:00Z"))
    pipeline.process(track("c-1", event="Product Added", price=9.0,
                           timestamp="2026-11-28T12:00:00Z"))
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert (pipeline.runtime.store.get_profile(key) or {}).get("segments")
    return key


def _apart(make_pipeline: MakePipeline, beside: Pipeline, plugin: object) -> Pipeline:
    """A pipeline with ``plugin`` and a store and audit log of its own, next to ``beside``'s."""
    root = beside.runtime.config.data_dir.parent / type(plugin).__name__
    return make_pipeline(plugin, data_dir=root / "data", audit_dir=root / "audits")


class _Recorder:
    def __init__(self) -> None:
        self.changes: list[SegmentChange] = []

    @hookimpl
    def cdp_segment_changed(self, change: SegmentChange) -> None:
        self.changes.append(change)


def test_hook_cdp_apply_consent_change(make_pipeline: MakePipeline) -> None:
    calls: list[tuple[str, ConsentState, datetime, int]] = []

    class LookalikeModel:
        """A third-party segmentation that keeps its own state per subject."""

        @hookimpl
        def cdp_apply_consent_change(self, change: ConsentChange, at: datetime,
                                     runtime: Runtime) -> list[SegmentChange]:
            # Inside the transaction: the ledger already holds the update.
            calls.append((change.purpose, change.current, at,
                          len(runtime.store.consent_history(change.subject_key))))
            if change.current is not ConsentState.DENIED:
                return []
            return [SegmentChange(change.subject_key, "lookalike", False, at, ("withdrawn",))]

    recorder = _Recorder()
    pipeline = make_pipeline(LookalikeModel(), recorder)
    key = _segmented_subject(pipeline)
    members = set((pipeline.runtime.store.get_profile(key) or {})["segments"])
    withdrawn_at = datetime(2026, 11, 29, tzinfo=UTC)
    pipeline.record_consent(ConsentUpdate(USER, withdrawn_at, "preference_center",
                                          purposes={"personalization": False}))

    assert calls[-1] == ("personalization", ConsentState.DENIED, withdrawn_at, 2)
    exits = [c for c in recorder.changes if not c.entered]
    # Both the built-in stage and the third-party plugin applied the withdrawal.
    assert {c.segment for c in exits} == members | {"lookalike"}
    audited = audit_records(pipeline, "segment.changed")
    assert {r["segment"] for r in audited} == members | {"lookalike"}
    assert {r["cause"] for r in audited} == {"consent"}

    class Failing:
        @hookimpl
        def cdp_apply_consent_change(self) -> None:
            raise RuntimeError("model store down")

    failing = _apart(make_pipeline, pipeline, Failing())
    with pytest.raises(PluginError) as raised:
        failing.record_consent(ConsentUpdate(USER, T, "preference_center",
                                             purposes={"marketing": False}))
    assert (raised.value.plugin, raised.value.hook) == ("Failing", "cdp_apply_consent_change")
    assert failing.runtime.store.consent_history(key) == []  # nothing recorded


def test_hook_cdp_tick(make_pipeline: MakePipeline) -> None:
    ticks: list[datetime] = []

    class Anniversary:
        @hookimpl
        def cdp_tick(self, at: datetime) -> list[SegmentChange]:
            ticks.append(at)
            return [SegmentChange("sk_someone", "anniversary", True, at)]

    recorder = _Recorder()
    pipeline = make_pipeline(Anniversary(), recorder)
    _segmented_subject(pipeline)
    now = datetime(2027, 3, 1, tzinfo=UTC)
    changes = pipeline.tick(now)

    assert ticks == [now]
    assert ("anniversary", True) in {(c.segment, c.entered) for c in changes}
    assert ("recently_active", False) in {(c.segment, c.entered) for c in changes}  # built-in
    assert recorder.changes[-len(changes):] == changes
    assert {r["cause"] for r in audit_records(pipeline, "segment.changed")} == {"tick"}


def test_hook_cdp_export_subject(make_pipeline: MakePipeline) -> None:
    class Scores:
        @hookimpl
        def cdp_export_subject(self, subject_key: str, now: datetime) -> dict[str, Any]:
            return {"scores": {"subject": subject_key, "as_of": now.isoformat()}}

    pipeline = make_pipeline(Scores())
    key = _segmented_subject(pipeline)
    now = datetime(2026, 11, 29, tzinfo=UTC)
    export = export_subject(pipeline, USER, now)

    assert export["scores"] == {"subject": key, "as_of": now.isoformat()}
    assert export["segments"] and all(s["explanation"] for s in export["segments"])
    assert export["features"]["profiling"]["event_count"] == 9
    [audited] = audit_records(pipeline, "subject.exported")
    assert audited["segments"] == len(export["segments"])

    class Shadowing:
        @hookimpl
        def cdp_export_subject(self) -> dict[str, Any]:
            return {"consent": {"current": []}}  # would hide the ledger

    shadowed = _apart(make_pipeline, pipeline, Shadowing())
    with pytest.raises(PluginError, match="cdp_export_subject"):
        export_subject(shadowed, USER, now)
    assert audit_records(shadowed, "subject.exported") == []


def test_hook_cdp_erase_subject(make_pipeline: MakePipeline) -> None:
    erased: list[str] = []

    class Scores:
        @hookimpl
        def cdp_erase_subject(self, subject_key: str, now: datetime) -> dict[str, int]:
            erased.append(subject_key)
            return {"scores": 2}

    pipeline = make_pipeline(Scores())
    key = _segmented_subject(pipeline)
    result = erase_subject(pipeline, CallbackSettings(scrub_after_erase=False), USER,
                           datetime(2026, 11, 29, tzinfo=UTC))

    assert result is not None and erased == [key]
    assert result.deleted["scores"] == 2 and result.deleted["profile"] == 1
    assert pipeline.runtime.store.get_profile(key) is None
    [audited] = audit_records(pipeline, "subject.erased")
    assert audited["deleted"] == result.deleted

    class Failing:
        @hookimpl
        def cdp_erase_subject(self) -> None:
            raise OSError("scores unreachable")

    failing = _apart(make_pipeline, pipeline, Failing())
    other = _segmented_subject(failing)
    with pytest.raises(PluginError, match="Failing"):
        erase_subject(failing, CallbackSettings(scrub_after_erase=False), USER,
                      datetime(2026, 11, 29, tzinfo=UTC))
    assert failing.runtime.store.get_profile(other) is not None  # nothing erased


class _ProfileSpy:
    """Records every call of the store's profile operations."""

    OPERATIONS = ("get_profile", "put_profile", "delete_profile", "iter_profiles",
                  "delete_profiles_before", "drop_profile_fields_before")

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in self.OPERATIONS:
            monkeypatch.setattr(store, name, self._spy(name, getattr(store, name)))

    def _spy(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return original(*args, **kwargs)
        return spy


def _profile_row(pipeline: Pipeline, key: str) -> tuple[Any, ...] | None:
    store = pipeline.runtime.store
    assert isinstance(store, SQLiteStore)
    with closing(sqlite3.connect(store.path)) as reader:
        row: tuple[Any, ...] | None = reader.execute(
            "SELECT data, updated_at FROM profiles WHERE subject_key = ?", (key,)).fetchone()
    return row


def test_blocked_segmentation_leaves_every_profile_alone(
        make_pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    segmented = make_pipeline()
    key = _segmented_subject(segmented)
    segmented.close()

    pipeline = make_pipeline(blocked_plugins=(SEGMENTATION,))
    row = _profile_row(pipeline, key)
    assert row is not None
    spy = _ProfileSpy(pipeline.runtime.store, monkeypatch)
    now = datetime(2026, 11, 29, tzinfo=UTC)

    result = pipeline.record_consent(ConsentUpdate(
        USER, now, "preference_center", purposes={"personalization": False},
        residency="DE"))
    assert [c.purpose for c in result.changes] == ["personalization"]
    assert pipeline.tick(datetime(2027, 3, 1, tzinfo=UTC)) == []
    export = export_subject(pipeline, USER, now)
    assert "segments" not in export and "features" not in export
    assert export["preferences"]["residency"] == "DE"
    erasure = erase_subject(pipeline, CallbackSettings(scrub_after_erase=False), USER, now)

    assert spy.calls == []
    assert _profile_row(pipeline, key) == row  # byte for byte
    assert erasure is not None and "profile" not in erasure.deleted
    # Preferences are not segmentation's: the erasure deleted them all the same.
    assert erasure.deleted["preferences"] == 1
    assert pipeline.runtime.store.get_preferences(key) is None
    assert audit_records(pipeline, "segment.changed") == []


class _Inbox:
    """A third-party queued target kind that keeps what it is sent."""

    max_events = 10
    max_bytes = 1_000_000

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.closed = False

    def send(self, events: Sequence[QueuedEvent]) -> SendResult:
        self.received += [(e.key, dict(e.payload)) for e in events]
        return SendResult(True)

    def close(self) -> None:
        self.closed = True


def test_hook_cdp_register_destinations(make_pipeline: MakePipeline) -> None:
    inbox = _Inbox()
    specs: list[tuple[str, dict[str, Any]]] = []

    class InboxKind:
        @hookimpl
        def cdp_register_destinations(self, register: Callable[..., None]) -> None:
            def factory(name: str, spec: Mapping[str, Any]) -> _Inbox:
                specs.append((name, dict(spec)))
                return inbox
            register("inbox", factory)

    pipeline = make_pipeline(InboxKind(), delivery={"esp": {"kind": "inbox", "box": 7,
                                                            "retry": {"max_attempts": 2}}})
    plan = plan_for(pipeline, pipeline.runtime.config)
    assert specs == [("esp", {"kind": "inbox", "box": 7})]  # retry is the host's
    assert plan.policies["esp"].max_attempts == 2
    with pipeline.unit_of_work():
        hand_over(pipeline, plan, pipeline.process_batch([
            track("m-1", consent=ALL_GRANTED), track("m-2", consent={"Marketing": False})]))
    assert Sender(pipeline, plan).deliver_due().delivered == 1
    assert [payload["messageId"] for _, payload in inbox.received] == ["m-1"]
    assert [key for key, _ in inbox.received] == message_keys(pipeline, "m-1")
    plan.close()
    assert inbox.closed

    class Twice:
        @hookimpl
        def cdp_register_destinations(self, register: Callable[..., None]) -> None:
            register("segment", lambda name, spec: inbox)

    twice = _apart(make_pipeline, pipeline, Twice())
    with pytest.raises(ConfigError, match="'segment' is registered twice"):
        plan_for(twice, twice.runtime.config)

    class Broken:
        @hookimpl
        def cdp_register_destinations(self) -> None:
            raise RuntimeError("registry down")

    broken = _apart(make_pipeline, pipeline, Broken())
    with pytest.raises(PluginError, match="Broken"):
        plan_for(broken, broken.runtime.config)


def _manager_with(*plugins: object) -> Any:
    from cdp_plugin import hookspecs
    from cdp_plugin.hookpolicy import CdpPluginManager
    pm = CdpPluginManager()
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin, name=type(plugin).__name__)
    return pm


def test_a_single_implementation_answers_as_through_pluggys_loop() -> None:
    class Silent:
        @hookimpl
        def cdp_decide(self, event: Event) -> None:
            return None

        @hookimpl
        def cdp_update_segments(self, event: Event) -> None:
            return None

    class Faulty:
        @hookimpl
        def cdp_decide(self, event: Event) -> Decision:
            raise KeyError("lookup table")

    kwargs = {"event": None, "consent": None, "runtime": None}
    silent = _manager_with(Silent())
    assert silent.hook.cdp_decide(**kwargs) is None                      # firstresult
    assert silent.hook.cdp_update_segments(decision=None, **kwargs) == []  # a list of results
    with pytest.raises(PluginError) as raised:
        _manager_with(Faulty()).hook.cdp_decide(**kwargs)
    assert (raised.value.plugin, raised.value.hook) == ("Faulty", "cdp_decide")
    assert isinstance(raised.value.cause, KeyError)


def test_hook_call_monitoring_sees_calls_of_a_single_implementation() -> None:
    class Decider:
        @hookimpl
        def cdp_decide(self, event: Event) -> Decision:
            return Decision.drop("test")

    pm = _manager_with(Decider())
    seen: list[str] = []
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name),
                                      lambda outcome, name, impls, kwargs: None)
    assert pm.hook.cdp_decide(event=None, consent=None, runtime=None) == Decision.drop("test")
    undo()
    pm.hook.cdp_decide(event=None, consent=None, runtime=None)
    assert seen == ["cdp_decide"]
