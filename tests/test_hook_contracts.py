"""One test per hookspec, named ``test_hook_<name>``: a small plugin implements
the hook and the test checks what the pipeline does with it, as the README's
hook table promises."""

from __future__ import annotations

import shutil
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin import hookimpl
from cdp_plugin.errors import AuditError, PluginError
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import (
    AuditEntry,
    ConsentChange,
    ConsentState,
    ConsentUpdate,
    ConsentView,
    ContactDecision,
    ContactRequest,
    Decision,
    Event,
    IngestError,
    MinimizedEvent,
    Outcome,
    ReconsentDue,
    SegmentChange,
    Status,
)
from tests.conftest import RULES_DIR, MakePipeline, audit_records, message_keys
from tests.events import ALL_GRANTED, track

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
USER = "user-alice@example.com"


def test_hook_cdp_configure(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    seen: list[Runtime] = []

    class Configured:
        @hookimpl
        def cdp_configure(self, runtime: Runtime) -> None:
            seen.append(runtime)

    pipeline = make_pipeline(Configured())
    assert seen == [pipeline.runtime]

    class Broken:
        @hookimpl
        def cdp_configure(self) -> None:
            raise RuntimeError("cannot start")

    with pytest.raises(PluginError) as raised:
        make_pipeline(Broken(), data_dir=tmp_path / "b", audit_dir=tmp_path / "b-audit")
    assert raised.value.plugin == "Broken" and raised.value.hook == "cdp_configure"


def test_hook_cdp_shutdown(make_pipeline: MakePipeline) -> None:
    calls: list[str] = []

    class Flusher:
        @hookimpl
        def cdp_shutdown(self, runtime: Runtime) -> None:
            calls.append(runtime.audit_log.origin)

    class Broken:
        @hookimpl
        def cdp_shutdown(self) -> None:
            raise RuntimeError("flush failed")

    pipeline = make_pipeline(Flusher(), Broken())
    pipeline.close()
    pipeline.close()
    assert calls == [pipeline.runtime.audit_log.origin]  # once, and a broken peer is isolated


def test_hook_cdp_resolve_consent(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    class GrantAll:
        @hookimpl(tryfirst=True)
        def cdp_resolve_consent(self, event: Event, runtime: Runtime) -> ConsentView:
            purposes = runtime.rules.purposes.purposes
            return ConsentView(event.subject_key, dict.fromkeys(purposes, ConsentState.GRANTED),
                               dict.fromkeys(purposes, "test"), "EU")

    baseline = make_pipeline(data_dir=tmp_path / "baseline", audit_dir=tmp_path / "baseline-audit")
    assert baseline.process(track("m-1")).status is Status.QUARANTINED  # no in-event signal
    pipeline = make_pipeline(GrantAll())
    outcome = pipeline.process(track("m-2"))
    assert outcome.status is Status.FORWARDED
    [record] = audit_records(pipeline, "event.decision")
    assert record["consent"]["marketing"] == "granted"


def test_hook_cdp_decide(make_pipeline: MakePipeline) -> None:
    class BotFilter:
        @hookimpl
        def cdp_decide(self, event: Event) -> Decision | None:
            if event.payload.get("context", {}).get("userAgent", "").startswith("bot"):
                return Decision.drop("bot")
            return None

    pipeline = make_pipeline(BotFilter())
    bot = track("m-bot", consent=ALL_GRANTED)
    bot["context"]["userAgent"] = "bot/1.0"
    outcomes = pipeline.process_batch([bot, track("m-human", consent=ALL_GRANTED)])
    assert (outcomes[0].status, outcomes[0].reasons) == (Status.DROPPED, ("bot",))
    assert outcomes[1].status is Status.FORWARDED
    actions = {r["message_id"]: (r["action"], r["reasons"])
               for r in audit_records(pipeline, "event.decision")}
    [bot_key] = message_keys(pipeline, "m-bot")
    assert actions[bot_key] == ("drop", ["bot"])


def test_hook_cdp_minimize_event(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    class NoCurrency:
        @hookimpl(wrapper=True)
        def cdp_minimize_event(self) -> Generator[None, MinimizedEvent | None,
                                                  MinimizedEvent | None]:
            result = yield
            if result is None:
                return None
            properties = {k: v for k, v in result.payload.get("properties", {}).items()
                          if k != "currency"}
            return MinimizedEvent({**result.payload, "properties": properties}, result.actions,
                                  result.deliveries)

    baseline = make_pipeline(data_dir=tmp_path / "baseline", audit_dir=tmp_path / "baseline-audit")
    plain = baseline.process(track("m-1", consent=ALL_GRANTED))
    assert plain.event is not None and "currency" in plain.event["properties"]
    outcome = make_pipeline(NoCurrency()).process(track("m-2", consent=ALL_GRANTED))
    assert outcome.status is Status.FORWARDED and outcome.event is not None
    assert "currency" not in outcome.event["properties"]
    assert "revenue" in outcome.event["properties"]


def test_hook_cdp_update_segments(make_pipeline: MakePipeline) -> None:
    class Vip:
        @hookimpl
        def cdp_update_segments(self, event: Event) -> list[SegmentChange]:
            return [SegmentChange(event.subject_key, "vip", True, T, ("test",))]

    pipeline = make_pipeline(Vip())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert "vip" in {c.segment for c in outcome.segment_changes}
    [record] = audit_records(pipeline, "event.decision")
    assert {"segment": "vip", "entered": True, "active": True} in record["segments"]


def test_hook_cdp_record_consent(make_pipeline: MakePipeline) -> None:
    class ReadOnlyLedger:
        @hookimpl(tryfirst=True)
        def cdp_record_consent(self, update: ConsentUpdate) -> list[ConsentChange]:
            return []  # accepts the update but records nothing

    pipeline = make_pipeline(ReadOnlyLedger())
    result = pipeline.record_consent(ConsentUpdate(USER, T, "preference_center",
                                                   purposes={"marketing": True}))
    assert result.changes == ()
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert pipeline.runtime.store.current_consent(key) == {}
    [record] = audit_records(pipeline, "consent.recorded")
    assert record["changes"] == [] and record["purposes"] == {"marketing": True}


def test_hook_cdp_check_contact(make_pipeline: MakePipeline) -> None:
    class Crm:
        @hookimpl(tryfirst=True)
        def cdp_check_contact(self, request: ContactRequest) -> ContactDecision | None:
            return ContactDecision(False, "crm.blocked") if request.channel == "email" else None

    pipeline = make_pipeline(Crm())
    pipeline.record_consent(ConsentUpdate(USER, T, "preference_center",
                                          purposes={"marketing": True},
                                          channels={"email": True, "sms": True}))
    assert pipeline.may_contact(USER, "email", at=T) == ContactDecision(False, "crm.blocked")
    assert pipeline.may_contact(USER, "sms", at=T).reason != "crm.blocked"
    reasons = [r["reason"] for r in audit_records(pipeline, "activation.checked")]
    assert reasons[0] == "crm.blocked"


def test_hook_cdp_write_audit(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    written: list[str] = []

    class Mirror:
        @hookimpl(wrapper=True)
        def cdp_write_audit(self, record: Any) -> Generator[None, AuditEntry, AuditEntry]:
            entry = yield
            written.append(entry.kind)
            return entry

    pipeline = make_pipeline(Mirror())
    pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert written[-1] == "event.decision" and "rules.loaded" in written

    class Unavailable:
        fail = False

        @hookimpl(tryfirst=True)
        def cdp_write_audit(self) -> None:
            if self.fail:
                raise OSError("disk full")

    unavailable = Unavailable()
    pipeline = make_pipeline(unavailable, data_dir=tmp_path / "b", audit_dir=tmp_path / "b-audit")
    unavailable.fail = True
    with pytest.raises(AuditError):
        pipeline.process(track("m-2", consent=ALL_GRANTED))
    unavailable.fail = False
    assert pipeline.process(track("m-2", consent=ALL_GRANTED)).forwarded  # nothing was kept


def test_hook_cdp_segment_changed(make_pipeline: MakePipeline) -> None:
    received: list[SegmentChange] = []

    class Crm:
        @hookimpl
        def cdp_update_segments(self, event: Event) -> list[SegmentChange]:
            return [SegmentChange(event.subject_key, "vip", True, T)]

        @hookimpl
        def cdp_segment_changed(self, change: SegmentChange) -> None:
            received.append(change)

    outcome = make_pipeline(Crm()).process(track("m-1", consent=ALL_GRANTED))
    assert received == list(outcome.segment_changes)
    assert "vip" in {c.segment for c in received}


def test_hook_cdp_consent_changed(make_pipeline: MakePipeline) -> None:
    received: list[ConsentChange] = []

    class Crm:
        @hookimpl
        def cdp_consent_changed(self, change: ConsentChange) -> None:
            received.append(change)

    pipeline = make_pipeline(Crm())
    pipeline.record_consent(ConsentUpdate(USER, T, "preference_center",
                                          purposes={"marketing": True}))
    pipeline.record_consent(ConsentUpdate(USER, T, "preference_center",
                                          purposes={"marketing": True}))  # no change
    pipeline.record_consent(ConsentUpdate(USER, T.replace(hour=13), "preference_center",
                                          purposes={"marketing": False}))
    key = pipeline.runtime.pseudonymizer.subject(USER)
    assert [(c.subject_key, c.purpose, c.previous, c.current) for c in received] == [
        (key, "marketing", ConsentState.UNKNOWN, ConsentState.GRANTED),
        (key, "marketing", ConsentState.GRANTED, ConsentState.DENIED),
    ]


def test_hook_cdp_quarantine_released(make_pipeline: MakePipeline) -> None:
    released: list[Outcome] = []

    class Sender:
        @hookimpl
        def cdp_quarantine_released(self, outcome: Outcome) -> None:
            released.append(outcome)

    pipeline = make_pipeline(Sender())
    assert pipeline.process(track("m-held")).status is Status.QUARANTINED
    assert released == []
    pipeline.record_consent(ConsentUpdate(USER, T, "preference_center",
                                          purposes=dict.fromkeys(
                                              ("analytics", "personalization", "marketing",
                                               "advertising"), True)))
    assert [o.message_id for o in released] == ["m-held"]
    assert released[0].status is Status.FORWARDED and released[0].event is not None
    assert released[0].event["userId"] != USER


def test_hook_cdp_reconsent_due(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    announced: list[ReconsentDue] = []

    class Crm:
        @hookimpl
        def cdp_reconsent_due(self, due: ReconsentDue) -> None:
            announced.append(due)

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    pipeline = make_pipeline(Crm(), rules_dir=rules)
    pipeline.record_consent(ConsentUpdate("old", datetime(2024, 1, 1, tzinfo=UTC), "import",
                                          purposes={"marketing": True}))
    pipeline.reconsent_due(datetime(2026, 11, 28, tzinfo=UTC))
    pipeline.reconsent_due(datetime(2026, 11, 28, tzinfo=UTC))
    key = pipeline.runtime.pseudonymizer.subject("old")
    assert [(d.subject_key, d.reasons) for d in announced] == [(key, ("expired",))]


def test_hook_cdp_audit_record_written(make_pipeline: MakePipeline) -> None:
    entries: list[AuditEntry] = []

    class Tail:
        @hookimpl
        def cdp_audit_record_written(self, entry: AuditEntry) -> None:
            entries.append(entry)

    pipeline = make_pipeline(Tail())
    pipeline.process_batch([track("m-1", consent=ALL_GRANTED), {"type": "track"}])
    records = audit_records(pipeline)
    assert [(e.index, e.kind) for e in entries] == [(r["seq"], r["kind"]) for r in records]
    assert {"rules.loaded", "event.decision", "event.invalid"} <= {e.kind for e in entries}


def test_hook_cdp_ingest_error(make_pipeline: MakePipeline) -> None:
    errors: list[IngestError] = []

    class Alerts:
        @hookimpl
        def cdp_ingest_error(self, error: IngestError) -> None:
            errors.append(error)

    class Broken:
        @hookimpl(tryfirst=True)
        def cdp_decide(self) -> None:
            raise ValueError("bug")

    pipeline = make_pipeline(Alerts(), Broken())
    pipeline.process_batch([{"type": "track", "messageId": "m-bad"},
                            track("m-1", consent=ALL_GRANTED)])
    bad, good = message_keys(pipeline, "m-bad", "m-1")  # keyed: observers log
    assert [(e.stage, e.plugin, e.error_type, e.message_id) for e in errors] == [
        ("validation", "cdp_plugin.validation", "InvalidEvent", bad),
        ("cdp_decide", "Broken", "ValueError", good),
    ]
    assert errors[0].fields  # the offending paths, never their values
    assert USER not in " ".join(e.message for e in errors)
