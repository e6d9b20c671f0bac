"""Retention: rules/retention.yaml, sweeps over a store, and `cdp-plugin retention sweep`."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from cdp_plugin.cli.retention import register
from cdp_plugin.errors import RulesError, StorageError
from cdp_plugin.retention import KINDS, PurgedEvent, cutoffs, sweep
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.rules.retention import RetentionFileSchema, RetentionRules, longest_cap_days
from cdp_plugin.storage import ConsentRecord, Store
from cdp_plugin.storage.records import NewDelivery
from cdp_plugin.storage.sqlite import SQLiteStore
from cdp_plugin.types import Status
from tests.conftest import RULES_DIR, MakePipeline, message_keys
from tests.events import track

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD, FRESH = "sk_old", "sk_fresh"


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


# --- rules/retention.yaml ----------------------------------------------------------------------


def load_retention(directory: Path) -> RetentionRules:
    return load_rules(directory).retention


def test_the_shipped_file_loads() -> None:
    rules = load_retention(RULES_DIR)

    assert rules == RetentionRules(quarantine_hours=None, profiles_days=395,
                                   profile_fields_days=MappingProxyType({}),
                                   consent_proofs_days=1095, dedup_days=30, sends_days=90)


def test_without_the_file_every_ttl_takes_its_default(tmp_path: Path) -> None:
    shutil.copytree(RULES_DIR, tmp_path / "rules")
    (tmp_path / "rules" / "retention.yaml").unlink()
    assert load_retention(tmp_path / "rules") == RetentionRules()


def _rules_dir(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    (directory / "retention.yaml").write_text(text, encoding="utf-8")
    return directory


def test_every_setting_is_read(tmp_path: Path) -> None:
    directory = _rules_dir(tmp_path, "version: 1\nquarantine_hours: 6\nprofiles_days: 200\n"
                                     "profile_fields_days: {features: 30, segments: 60}\n"
                                     "consent_proofs_days: null\ndedup_days: 7\n"
                                     "sends_days: 31\n")

    rules = load_retention(directory)

    assert rules == RetentionRules(6, 200, MappingProxyType({"features": 30, "segments": 60}),
                                   None, 7, 31)


def test_every_problem_is_reported_with_its_key_and_line(tmp_path: Path) -> None:
    directory = _rules_dir(tmp_path, "\n".join([
        "version: 1",
        "quarantine_hours: 0",          # 2: out of range
        "profiles_days: 100",
        "profile_fields_days:",
        "  features: 100",              # 5: not shorter than profiles_days
        "  Bad-Name: 3",                # 6: not lower_snake_case
        "dedup_days: true",             # 7: not an integer
        "sends_days: 7",                # 8: shorter than the 30-day direct_mail cap
        "keep_forever: yes",            # 9: unknown key
        "",
    ]))

    with pytest.raises(RulesError) as raised:
        load_retention(directory)

    found = {(p.key, p.line) for p in raised.value.problems}
    assert found == {("quarantine_hours", 2), ("profile_fields_days.features", 5),
                     ("profile_fields_days.Bad-Name", 6), ("dedup_days", 7),
                     ("sends_days", 8), ("keep_forever", 9)}
    assert all(p.file.endswith("retention.yaml") for p in raised.value.problems)
    lines = [p.line or 0 for p in raised.value.problems]
    assert lines == sorted(lines)
    messages = {p.key: p.message for p in raised.value.problems}
    assert "shorter than profiles_days (100)" in messages["profile_fields_days.features"]
    assert "at least 30 days" in messages["sends_days"]
    assert "must be an integer" in messages["dedup_days"]


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [("version: 1\ndedup_days: 3\ndedup_days: 4\n", "dedup_days", 3),
     ("version: 1\nprofiles_days: [\n", "<file>", 3),
     ("- 1\n", "<file>", 1),
     ("version: 2\n", "version", 1),
     ("version: 1\nprofiles_days: null\n", "profiles_days", 2)],
)
def test_malformed_files_are_rules_errors(tmp_path: Path, text: str, key: str,
                                          line: int) -> None:
    directory = _rules_dir(tmp_path, text)

    with pytest.raises(RulesError) as raised:
        load_retention(directory)

    assert [(p.key, p.line) for p in raised.value.problems] == [(key, line)]


def test_longest_cap_reads_purposes_without_raising() -> None:
    assert longest_cap_days({"frequency_caps": {"email": {"max": 3, "per_days": 7},
                                                "mail": {"max": 1, "per_days": 30}}}) == 30
    assert longest_cap_days({"frequency_caps": {"email": "weekly", "sms": {"per_days": True}}}) == 0
    assert longest_cap_days(None) == 0
    assert RetentionFileSchema(longest_cap_days=0).load({"version": 1}) == RetentionRules()


# --- sweeps -----------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def _seed(store: Store) -> dict[str, int]:
    """Old and fresh data of every kind; returns the quarantine ids by name."""
    ids = {
        "expired": store.quarantine_add(OLD, "m-expired", "{}", ago(2), ago(1)),
        "long_held": store.quarantine_add(OLD, "m-long", "{}", ago(hours=30), ago(hours=-5)),
        "fresh": store.quarantine_add(FRESH, "m-fresh", "{}", ago(hours=1), ago(hours=-23)),
    }
    store.put_profile(OLD, {"features": {"event_count": 3}, "residency": "DE"}, ago(400))
    store.put_profile("sk_dormant", {"features": {"event_count": 9}, "segments": {"vip": {}},
                                     "residency": "FR"}, ago(200))
    store.put_profile(FRESH, {"features": {"event_count": 1}}, ago(1))
    proof = {"form": "signup-v2"}
    store.append_consent(ConsentRecord(OLD, "preference_center", ago(2000), ago(2000),
                                       {"marketing": True}, {}, proof=proof))
    store.append_consent(ConsentRecord(OLD, "preference_center", ago(1500), ago(1500),
                                       {"marketing": False}, {}, proof=proof))
    store.append_consent(ConsentRecord(FRESH, "preference_center", ago(10), ago(10),
                                       {"marketing": True}, {}, proof=proof))
    store.remember_message("m-old", ago(31))
    store.remember_message("m-new", ago(29))
    store.record_send(OLD, "email", None, ago(91))
    store.record_send(FRESH, "email", None, ago(89))
    store.delivery_add([NewDelivery("esp", OLD, "m-sent", ("marketing",), "{}"),
                        NewDelivery("esp", FRESH, "m-sent-later", ("marketing",), "{}"),
                        NewDelivery("esp", OLD, "m-waiting", ("marketing",), "{}")], ago(40))
    sent = store.delivery_lease("esp", ago(40), ago(39), 2)
    store.delivery_settle([(sent[0].id, 1)], "delivered", ago(40), None, ago(31))
    store.delivery_settle([(sent[1].id, 1)], "delivered", ago(40), None, ago(29))
    return ids


def test_a_sweep_removes_what_is_past_its_ttl_and_nothing_else(store: Store) -> None:
    _seed(store)
    rules = RetentionRules(consent_proofs_days=1095,
                           profile_fields_days=MappingProxyType({"features": 180,
                                                                 "segments": 180}))

    report = sweep(store, rules, NOW)

    assert report.counts() == {"quarantine": 1, "profiles": 1, "profile_fields": 1,
                               "consent_proofs": 1, "dedup": 1, "sends": 1, "deliveries": 1}
    assert report.purged == (PurgedEvent("m-expired", OLD),)
    assert [h.message_id for h in store.quarantine_list(OLD)] == ["m-long"]
    assert store.quarantine_count(FRESH) == 1
    assert store.get_profile(OLD) is None
    assert store.get_profile("sk_dormant") == {"residency": "FR"}
    assert store.get_profile(FRESH) == {"features": {"event_count": 1}}
    # The superseded record lost its proof; the one the current state rests on kept it.
    assert [dict(r.proof) for r in store.consent_history(OLD)] == [{}, {"form": "signup-v2"}]
    assert [dict(r.purposes) for r in store.consent_history(OLD)] == [
        {"marketing": True}, {"marketing": False}]
    assert store.current_consent(OLD)[("purpose", "marketing")].granted is False
    assert store.remember_message("m-old", NOW) is True  # forgotten: new again
    assert store.remember_message("m-new", NOW) is False
    assert store.sends_since(OLD, "email", ago(1000)) == []
    assert store.sends_since(FRESH, "email", ago(1000)) == [ago(89)]
    assert [d.message_key for d in store.delivery_list()] == ["m-sent-later", "m-waiting"]


def test_a_second_sweep_finds_nothing_more(store: Store) -> None:
    _seed(store)
    sweep(store, RetentionRules(consent_proofs_days=30), NOW)

    again = sweep(store, RetentionRules(consent_proofs_days=30), NOW)

    assert again.counts() == dict.fromkeys(KINDS, 0)
    assert again.purged == ()


def test_quarantine_hours_purge_long_held_events_before_their_expiry(store: Store) -> None:
    ids = _seed(store)

    report = sweep(store, RetentionRules(quarantine_hours=24), NOW)

    assert report.quarantine == 2
    assert {p.message_id for p in report.purged} == {"m-expired", "m-long"}
    assert store.quarantine_received_before(NOW) == store.quarantine_list(FRESH)
    assert [h.id for h in store.quarantine_list(FRESH)] == [ids["fresh"]]


def test_without_a_proof_ttl_every_proof_stays(store: Store) -> None:
    _seed(store)

    report = sweep(store, RetentionRules(consent_proofs_days=None), NOW)

    assert report.consent_proofs == 0
    assert report.cutoffs["consent_proofs"] is None
    assert all(record.proof for record in store.consent_history(OLD))


def test_cutoffs_count_back_from_now() -> None:
    rules = RetentionRules(quarantine_hours=6, profiles_days=10,
                           profile_fields_days=MappingProxyType({"a": 3, "b": 5}),
                           consent_proofs_days=None, dedup_days=2, sends_days=4,
                           deliveries_days=3)

    assert cutoffs(rules, NOW) == {
        "quarantine": ago(hours=6), "profiles": ago(10), "profile_fields": ago(5),
        "consent_proofs": None, "dedup": ago(2), "sends": ago(4), "deliveries": ago(3),
    }


def test_the_report_is_json_ready(store: Store) -> None:
    _seed(store)

    data = sweep(store, RetentionRules(), NOW).as_dict()

    assert json.loads(json.dumps(data)) == data
    assert list(data["counts"]) == list(KINDS)
    assert data["at"] == NOW.isoformat()


class _FailingStore(SQLiteStore):
    def delete_sends_before(self, before: datetime) -> int:
        raise StorageError("delete_sends_before failed: disk I/O")


def test_a_failed_sweep_removes_nothing(tmp_path: Path) -> None:
    failing = _FailingStore(tmp_path / "store.sqlite3")
    try:
        _seed(failing)
        with pytest.raises(StorageError):
            sweep(failing, RetentionRules(consent_proofs_days=30), NOW)

        assert failing.quarantine_count(OLD) == 2
        assert failing.get_profile(OLD) is not None
        assert all(record.proof for record in failing.consent_history(OLD))
        assert failing.remember_message("m-old", NOW) is False
    finally:
        failing.close()


def test_a_naive_now_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sweep(store, RetentionRules(), datetime(2026, 6, 1))


def test_a_pipeline_runtime_can_be_swept(make_pipeline: MakePipeline) -> None:
    pipeline = make_pipeline()
    assert pipeline.process(track("m-held")).status is Status.QUARANTINED
    runtime = pipeline.runtime
    after_expiry = datetime.now(UTC) + timedelta(hours=runtime.config.quarantine_ttl_hours + 1)

    report = sweep(runtime, load_retention(RULES_DIR), after_expiry)

    assert [p.message_id for p in report.purged] == message_keys(pipeline, "m-held")
    key = runtime.pseudonymizer.subject("user-alice@example.com")
    assert report.purged[0].subject_key == key
    assert runtime.store.quarantine_count(key) == 0


# --- the command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(tmp_path: Path, *extra: str) -> int:
    # Its own audit directory: a log in the checkout's audits/ keeps another run's key.
    args = _parser().parse_args(["retention", "sweep", "--rules", str(RULES_DIR),
                                 "--data-dir", str(tmp_path / "data"),
                                 "--audit-dir", str(tmp_path / "audits"), *extra])
    code: int = args.handler(args)
    return code


def test_cli_sweeps_the_configured_store_and_prints_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded = SQLiteStore(tmp_path / "data" / "cdp.sqlite3")
    _seed(seeded)
    seeded.close()

    assert _run(tmp_path, "--at", "2026-06-01T12:00:00Z", "--json") == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed["at"] == NOW.isoformat()
    assert printed["counts"] == {"quarantine": 1, "profiles": 1, "profile_fields": 0,
                                 "consent_proofs": 1, "dedup": 1, "sends": 1, "deliveries": 1}
    assert printed["cutoffs"]["profiles"] == ago(395).isoformat()
    reopened = SQLiteStore(tmp_path / "data" / "cdp.sqlite3")
    try:
        assert reopened.get_profile(OLD) is None
    finally:
        reopened.close()


def test_cli_prints_a_table_by_default(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, "--at", "2026-06-01T14:00:00+02:00") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "swept as of 2026-06-01T14:00:00+02:00"
    assert [line.split()[:2] for line in lines[1:]] == [[kind, "0"] for kind in KINDS]


@pytest.mark.parametrize("moment", ["2026-06-01T12:00:00", "yesterday"])
def test_cli_refuses_a_time_without_an_offset(
        tmp_path: Path, moment: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        _parser().parse_args(["retention", "sweep", "--at", moment])

    assert raised.value.code == 2
    assert "--at" in capsys.readouterr().err


def test_cli_reports_a_broken_retention_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "retention.yaml").write_text("version: 1\nsends_days: -1\n", encoding="utf-8")
    args = _parser().parse_args(["retention", "sweep", "--rules", str(rules),
                                 "--data-dir", str(tmp_path / "data")])

    with pytest.raises(RulesError, match="sends_days"):
        args.handler(args)


def test_pipeline_sweep_is_audited(make_pipeline: MakePipeline) -> None:
    from tests.conftest import audit_records

    pipeline = make_pipeline(quarantine_ttl_hours=1)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    pipeline.clock = lambda: now
    pipeline.process(track("m-held", "user-held"))
    report = pipeline.sweep_retention(now + timedelta(hours=2))
    assert report.counts()["quarantine"] == 1
    [purged] = audit_records(pipeline, "quarantine.purged")
    assert (purged["message_id"], purged["reasons"]) == (message_keys(pipeline, "m-held")[0],
                                                         ["retention.expired"])
    [swept] = audit_records(pipeline, "retention.swept")
    assert swept["counts"]["quarantine"] == 1
