"""The host pipeline end to end: outcomes, error policies, fail-closed behaviour, audit."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cdp_plugin import hookimpl
from cdp_plugin.errors import AuditError
from cdp_plugin.types import (
    ConsentChange,
    ConsentUpdate,
    Decision,
    IngestError,
    MinimizedEvent,
    SegmentChange,
    Status,
)
from tests.conftest import MakePipeline, audit_lines, audit_records, message_keys
from tests.events import ALL_DENIED, ALL_GRANTED, track

RAW_USER = "user-alice@example.com"


def test_granted_event_is_forwarded_minimized_and_audited(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.status is Status.FORWARDED
    assert outcome.event is not None
    assert outcome.event["userId"] != RAW_USER and outcome.event["userId"].startswith("h1:")
    assert outcome.event["context"]["ip"] == "203.0.113.0"
    assert "comment" not in outcome.event.get("properties", {})
    assert "properties.comment" in outcome.minimization["drop"]
    [record] = audit_records(pipeline, "event.decision")
    assert record["action"] == "allow"
    assert record["message_id"] == message_keys(pipeline, "m-1")[0]
    assert record["index" if "index" in record else "seq"] == outcome.audit_index
    assert "marketing" in record["purposes"]
    assert record["consent"]["analytics"] == "granted" and record["jurisdiction"] == "EU"
    assert "properties.comment" in record["minimization"]["drop"]
    assert record["minimization_rules"]["drop:properties.comment"] == "allowlist"
    assert outcome.minimization_rules["hash:userId"] == "envelope"


def test_audit_log_holds_no_raw_identifiers_or_values(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    pipeline.process_batch([track("m-1", consent=ALL_GRANTED), track("m-2"),
                            track("m-3", consent=ALL_DENIED),
                            {"type": "track", "userId": RAW_USER}])
    pipeline.close()
    blob = b"\n".join(audit_lines(pipeline))
    for secret in (RAW_USER, "203.0.113.77", "2345678", "42.5"):
        assert secret.encode() not in blob


def test_unknown_consent_is_quarantined_not_forwarded(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    outcome = pipeline.process(track("m-1"))
    assert outcome.status is Status.QUARANTINED
    assert outcome.event is None and outcome.reasons == ("consent.unknown",)
    key = pipeline.runtime.pseudonymizer.subject(RAW_USER)
    [held] = pipeline.runtime.store.quarantine_list(key)
    assert held.message_id == message_keys(pipeline, "m-1")[0]


def test_quarantine_is_bounded_per_subject(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(quarantine_per_subject=2)
    outcomes = pipeline.process_batch([track(f"m-{i}") for i in range(3)])
    assert [o.status for o in outcomes] == [Status.QUARANTINED, Status.QUARANTINED,
                                            Status.DROPPED]
    assert "quarantine.full" in outcomes[2].reasons


def test_denied_consent_drops_with_reason(make_pipeline: MakePipeline) -> None:
    outcome = make_pipeline().process(track("m-1", consent=ALL_DENIED))
    assert outcome.status is Status.DROPPED and outcome.reasons == ("consent.denied",)


def test_ledger_grant_allows_and_later_withdrawal_wins(make_pipeline: MakePipeline) -> None:
    seen: list[ConsentChange] = []

    class Observer:
        @hookimpl
        def cdp_consent_changed(self, change: ConsentChange) -> None:
            seen.append(change)

    pipeline = make_pipeline(Observer())
    grant = ConsentUpdate(RAW_USER, datetime(2026, 11, 1, tzinfo=UTC), "preference_center",
                          purposes={"analytics": True, "personalization": True,
                                    "marketing": True})
    changes = list(pipeline.record_consent(grant).changes)
    assert {c.purpose for c in changes} == {"analytics", "personalization", "marketing"}
    assert seen == changes
    assert pipeline.process(track("m-1")).status is Status.FORWARDED
    withdraw = ConsentUpdate(RAW_USER, datetime(2026, 11, 2, tzinfo=UTC), "preference_center",
                             purposes={"analytics": False, "personalization": False,
                                       "marketing": False, "advertising": False})
    pipeline.record_consent(withdraw)
    assert pipeline.process(track("m-2")).reasons == ("consent.denied",)
    # An in-event grant newer than the withdrawal is the subject's latest word.
    newer = track("m-3", consent=ALL_GRANTED, timestamp="2026-11-03T00:00:00Z")
    assert pipeline.process(newer).status is Status.FORWARDED
    records = audit_records(pipeline, "consent.recorded")
    assert [r["source"] for r in records] == ["preference_center", "preference_center"]


def test_replayed_message_id_is_not_processed_twice(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    first, second = pipeline.process_batch([track("m-1", consent=ALL_GRANTED)] * 2)
    assert (first.status, second.status) == (Status.FORWARDED, Status.DUPLICATE)
    assert pipeline.process(track("m-1", consent=ALL_GRANTED)).status is Status.DUPLICATE
    key = pipeline.runtime.pseudonymizer.subject(RAW_USER)
    profile = pipeline.runtime.store.get_profile(key)
    assert profile is not None and profile["features"]["event_count"] == 1


def test_invalid_event_is_rejected_with_reasons_and_audited(make_pipeline: MakePipeline) -> None:
    errors: list[IngestError] = []

    class Observer:
        @hookimpl
        def cdp_ingest_error(self, error: IngestError) -> None:
            errors.append(error)

    pipeline = make_pipeline(Observer())
    outcome = pipeline.process({"type": "track", "messageId": "m-9", "userId": RAW_USER,
                                "timestamp": "yesterday", "properties": RAW_USER})
    assert outcome.status is Status.INVALID and outcome.event is None
    assert set(outcome.reasons) == {"invalid:event", "invalid:timestamp", "invalid:properties"}
    [record] = audit_records(pipeline, "event.invalid")
    assert set(record["problems"]) == {"event", "timestamp", "properties"}
    assert RAW_USER not in json.dumps(record)
    assert errors and errors[0].fields == ("event", "properties", "timestamp")
    assert pipeline.process(b"{not json").status is Status.INVALID


def test_thousand_events_with_fifty_malformed(make_pipeline: MakePipeline) -> None:
    good = [json.dumps(track(f"ok-{i}", f"user-{i % 40}", consent=ALL_GRANTED)) for i in range(950)]
    bad = []
    for i in range(50):
        event = track(f"bad-{i}", f"user-{i}", consent=ALL_GRANTED)
        broken: list[Any] = [("messageId", None), ("timestamp", "not-a-time"),
                             ("event", None), ("properties", "text"), ("type", "purchase")]
        key, value = broken[i % len(broken)]
        if value is None:
            del event[key]
        else:
            event[key] = value
        bad.append(json.dumps(event) if i % 10 else "{truncated")
    lines = good[:500] + bad + good[500:]
    pipeline = make_pipeline()
    outcomes = pipeline.process_batch(lines)
    invalid = [o for o in outcomes if o.status is Status.INVALID]
    assert len(outcomes) == 1000 and len(invalid) == 50
    assert all(o.reasons and all(r.startswith("invalid:") for r in o.reasons) for o in invalid)
    forwarded_ids = {o.message_id for o in outcomes if o.forwarded}
    assert not any(mid and mid.startswith("bad-") for mid in forwarded_ids)
    assert len(forwarded_ids) == 950
    assert len(audit_records(pipeline, "event.invalid")) == 50


def test_a_batch_with_invalid_events_leaves_nothing_for_the_cyclic_collector(
        make_pipeline: MakePipeline) -> None:
    # Reference cycles through a batch's events would hold its memory until the
    # collector's rare full pass: a long run's memory would climb.
    pipeline = make_pipeline()
    lines = [json.dumps(track(f"ok-{i}", f"user-{i % 7}", consent=ALL_GRANTED))
             for i in range(40)] + ["{truncated", json.dumps({"type": "track"})]
    pipeline.process_batch(lines)  # warm: plans, memos, statements
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        outcomes = pipeline.process_batch([line.replace("ok-", "again-") for line in lines])
        assert sum(o.status is Status.INVALID for o in outcomes) == 2
        del outcomes
        gc.collect()
        kept = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert "Event" not in kept and "Outcome" not in kept and "frame" not in kept, kept[:20]


class RaisingDecider:
    @hookimpl
    def cdp_decide(self, event: Any) -> Decision:
        raise RuntimeError(f"boom for {event.subject_id}")


def test_raising_decider_fails_closed_and_is_named(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(RaisingDecider())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.status is Status.DROPPED and outcome.event is None
    assert outcome.reasons == ("plugin_error", "plugin:RaisingDecider")
    [record] = audit_records(pipeline, "plugin.error")
    assert record["plugin"] == "RaisingDecider" and record["hook"] == "cdp_decide"
    assert record["error_type"] == "RuntimeError"
    assert RAW_USER not in json.dumps(record)
    assert not audit_records(pipeline, "event.decision")


def test_failed_event_can_be_retried_after_the_fix(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(RaisingDecider())
    assert pipeline.process(track("m-1", consent=ALL_GRANTED)).status is Status.DROPPED
    pipeline.pm.unregister(name="RaisingDecider")
    assert pipeline.process(track("m-1", consent=ALL_GRANTED)).status is Status.FORWARDED


def test_raising_minimizer_fails_closed(make_pipeline: MakePipeline) -> None:
    class Broken:
        @hookimpl(tryfirst=True)
        def cdp_minimize_event(self) -> MinimizedEvent:
            raise ValueError("cannot")

    outcome = make_pipeline(Broken()).process(track("m-1", consent=ALL_GRANTED))
    assert outcome.status is Status.DROPPED and "plugin:Broken" in outcome.reasons


def test_allow_without_consent_is_overridden(make_pipeline: MakePipeline) -> None:
    class Permissive:
        @hookimpl
        def cdp_decide(self) -> Decision:
            return Decision.allow(frozenset({"advertising"}), "looks fine")

    pipeline = make_pipeline(Permissive())
    outcome = pipeline.process(track("m-1", consent={"Advertising": False}))
    assert outcome.status is Status.DROPPED and outcome.reasons == ("consent.not_granted",)


def test_third_party_decider_runs_before_consent(make_pipeline: MakePipeline) -> None:
    class BotFilter:
        @hookimpl
        def cdp_decide(self, event: Any) -> Decision | None:
            return Decision.drop("bot") if event.name == "Bot Ping" else None

    pipeline = make_pipeline(BotFilter())
    assert pipeline.process(track("m-1", event="Bot Ping", consent=ALL_GRANTED)).reasons == (
        "bot",)
    assert pipeline.process(track("m-2", consent=ALL_GRANTED)).forwarded


def test_failing_observer_is_isolated(make_pipeline: MakePipeline) -> None:
    received: list[SegmentChange] = []

    class Broken:
        @hookimpl
        def cdp_segment_changed(self) -> None:
            raise RuntimeError("observer bug")

    class Working:
        @hookimpl
        def cdp_segment_changed(self, change: SegmentChange) -> None:
            received.append(change)

    pipeline = make_pipeline(Broken(), Working())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.forwarded and outcome.segment_changes
    assert received == list(outcome.segment_changes)


def test_blocking_the_consent_stage_fails_closed(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline(blocked_plugins=("cdp_plugin.stages.consent",))
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    assert outcome.status is Status.DROPPED and outcome.reasons == ("no_decision",)


def test_no_audit_plugin_means_nothing_forwarded(make_pipeline: MakePipeline) -> None:
    with pytest.raises(AuditError):
        make_pipeline(blocked_plugins=("cdp_plugin.stages.audit",))


def test_unwritable_audit_log_fails_closed_and_rolls_back(
        make_pipeline: MakePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = make_pipeline()
    log = pipeline.runtime.audit_log

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise AuditError("audit log: cannot write (disk full)")

    monkeypatch.setattr(log, "flush", disk_full)
    with pytest.raises(AuditError):
        pipeline.process_batch([track("m-1", consent=ALL_GRANTED)])
    monkeypatch.undo()
    # The failed batch left no trace in the store: the same event is not a replay.
    assert pipeline.process(track("m-1", consent=ALL_GRANTED)).forwarded


def test_configure_is_historic(make_pipeline: MakePipeline) -> None:
    calls: list[str] = []

    class Late:
        @hookimpl
        def cdp_configure(self, runtime: Any) -> None:
            calls.append(runtime.config.worker_id)

    pipeline = make_pipeline()
    pipeline.pm.register(Late())
    assert calls == ["w0"]


def test_rules_load_is_audited_with_file_hashes(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    [record] = audit_records(pipeline, "rules.loaded")
    assert record["rules_version"] == pipeline.runtime.rules.version
    assert set(record["files"]) >= {"purposes.yaml", "minimization.yaml", "segments.yaml",
                                    "jurisdictions.yaml"}
    assert "cdp_plugin.stages.consent" in record["plugins"]


def test_consent_resolver_plugin_takes_precedence(make_pipeline: MakePipeline) -> None:
    from cdp_plugin.types import ConsentState, ConsentView

    class Cmp:
        @hookimpl
        def cdp_resolve_consent(self, event: Any) -> ConsentView:
            return ConsentView(event.subject_key, {"analytics": ConsentState.GRANTED}, {
                "analytics": "cmp"})

    outcome = make_pipeline(Cmp()).process(track("m-1", consent=ALL_DENIED))
    assert outcome.forwarded and outcome.purposes == frozenset({"analytics"})


def test_segment_plugins_all_contribute(make_pipeline: MakePipeline) -> None:
    class Vip:
        @hookimpl
        def cdp_update_segments(self, event: Any) -> list[SegmentChange]:
            return [SegmentChange(event.subject_key, "vip", True, event.timestamp, ("test",))]

    pipeline = make_pipeline(Vip())
    outcome = pipeline.process(track("m-1", consent=ALL_GRANTED))
    names = {c.segment for c in outcome.segment_changes}
    assert "vip" in names and len(names) > 1  # the built-in stage contributed too
    [record] = audit_records(pipeline, "event.decision")
    assert {"segment": "vip", "entered": True, "active": True} in record["segments"]


def test_record_consent_first_result_wins(make_pipeline: MakePipeline) -> None:
    class ExternalLedger:
        @hookimpl(tryfirst=True)
        def cdp_record_consent(self, subject_key: str) -> list[ConsentChange]:
            return []

    pipeline = make_pipeline(ExternalLedger())
    update = ConsentUpdate(RAW_USER, datetime(2026, 11, 1, tzinfo=UTC), "import",
                           purposes={"analytics": True})
    assert pipeline.record_consent(update).changes == ()
    key = pipeline.runtime.pseudonymizer.subject(RAW_USER)
    assert pipeline.runtime.store.consent_history(key) == []


def test_unknown_purpose_in_update_records_nothing(make_pipeline: MakePipeline) -> None:
    from cdp_plugin.errors import PluginError

    pipeline = make_pipeline()
    update = ConsentUpdate(RAW_USER, datetime(2026, 11, 1, tzinfo=UTC), "import",
                           purposes={"analytics": True, "telepathy": True})
    with pytest.raises(PluginError):
        pipeline.record_consent(update)
    key = pipeline.runtime.pseudonymizer.subject(RAW_USER)
    assert pipeline.runtime.store.consent_history(key) == []


def test_raising_audit_writer_fails_closed(make_pipeline: MakePipeline) -> None:
    class BrokenSink:
        @hookimpl(tryfirst=True)
        def cdp_write_audit(self, record: Any) -> None:
            if record.kind == "event.decision":
                raise OSError("sink down")

    pipeline = make_pipeline(BrokenSink())
    with pytest.raises(AuditError, match="BrokenSink"):
        pipeline.process(track("m-1", consent=ALL_GRANTED))


def test_audit_observers_and_shutdown(make_pipeline: MakePipeline) -> None:
    from cdp_plugin.types import AuditEntry

    entries: list[AuditEntry] = []
    shutdowns: list[bool] = []

    class Watcher:
        @hookimpl
        def cdp_audit_record_written(self, entry: AuditEntry) -> None:
            entries.append(entry)

        @hookimpl
        def cdp_shutdown(self) -> None:
            shutdowns.append(True)

    pipeline = make_pipeline(Watcher())
    pipeline.process_batch([track("m-1", consent=ALL_GRANTED), track("m-2")])
    assert [e.kind for e in entries] == ["rules.loaded", "event.decision", "event.decision"]
    assert [e.index for e in entries] == [0, 1, 2]
    pipeline.close()
    assert shutdowns == [True]


def test_unnamed_fields_are_dropped_unless_a_rule_switches_the_allowlist_off(
        make_pipeline: MakePipeline, tmp_path: Any) -> None:
    import shutil

    from tests.conftest import RULES_DIR

    event = track("m-1", consent=ALL_GRANTED, revenue=10, surprise_field="x")
    outcome = make_pipeline().process(event)
    assert outcome.event is not None and "surprise_field" not in outcome.event["properties"]
    assert "properties.surprise_field" in outcome.minimization["drop"]

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    with (rules / "minimization.yaml").open("a") as handle:
        handle.write("  - name: open_orders\n    match: {type: track, event: Order Completed}\n"
                     "    allowlist: false\n    purposes: {}\n")
    relaxed = make_pipeline(rules_dir=rules, data_dir=tmp_path / "d2",
                            audit_dir=tmp_path / "a2")
    outcome = relaxed.process(track("m-1", consent=ALL_GRANTED, revenue=10, surprise_field="x"))
    assert outcome.event is not None and outcome.event["properties"]["surprise_field"] == "x"


def test_message_ids_and_event_names_never_reach_the_log_or_the_store_raw(
        make_pipeline: MakePipeline) -> None:
    """A messageId or an event name is client free text and may embed personal data."""
    pipeline = make_pipeline()
    email, phone = "x@example.com", "+49 151 2345678"
    first = track(email, consent=ALL_GRANTED, event=f"Signup {phone}")
    second = track(f"order-2-{email}", consent=ALL_GRANTED)
    outcomes = pipeline.process_batch([first, second, dict(first), track("m-held")])
    assert [o.status for o in outcomes] == [Status.FORWARDED, Status.FORWARDED,
                                            Status.DUPLICATE, Status.QUARANTINED]
    ids = [o.event["messageId"] for o in outcomes[:2] if o.event]
    assert len(set(ids)) == 2 and all(email not in i for i in ids)  # pseudonymized, distinct
    [decision, _] = audit_records(pipeline, "event.decision")[:2]
    assert decision["message_id"] == message_keys(pipeline, email)[0]
    assert decision["event"] == "Signup [REDACTED:phone]"
    pipeline.close()
    blob = b"\n".join(audit_lines(pipeline))
    assert email.encode() not in blob and b"2345678" not in blob
    store_file = pipeline.runtime.config.data_dir / "cdp.sqlite3"
    assert email.encode() not in store_file.read_bytes()
