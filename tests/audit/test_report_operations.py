"""The governance report places the records the plugin really writes, every kind of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.note import NoteSigner, generate_signer_key
from cdp_plugin.audit.records import REGISTRY
from cdp_plugin.audit.report import build_report
from cdp_plugin.config import Config
from cdp_plugin.pipeline import Pipeline
from tests.audit.every_kind import write_every_kind
from tests.conftest import ISOLATED, RULES_DIR


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The report of one run of the scenario, shared by this module's tests."""
    root = tmp_path_factory.mktemp("every_kind")
    config = Config(data_dir=root / "data", rules_dir=RULES_DIR, audit_dir=root / "audits",
                    load_entrypoints=False, checkpoint_interval=3600.0)
    made: list[Pipeline] = []

    def make(*plugins: object, **overrides: Any) -> Pipeline:
        made.append(Pipeline.from_config(config.with_overrides(**overrides), plugins=plugins))
        return made[-1]

    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED:
            env.delenv(name, raising=False)
        try:
            write_every_kind(make, config)
        finally:
            for pipeline in made:
                pipeline.close()
    yield build_report(config.audit_dir)


def test_no_kind_the_plugin_writes_is_left_uninterpreted(report: dict[str, Any]) -> None:
    assert report["other"]["unknown_kinds"] == {}
    assert report["summary"]["unknown_records"] == 0
    assert len(report["other"]["records_by_kind"]) == len(REGISTRY)


def test_activation_checks(report: dict[str, Any]) -> None:
    assert report["operations"]["activation"] == {
        "checks": 2, "allowed": 1, "refused": 1,
        "refused_by_reason": {"purpose.unknown": 1},
        "by_channel": {"email": {"allowed": 1, "refused": 1}}}


def test_experiments_are_counted_per_arm(report: dict[str, Any]) -> None:
    assert report["experiments"] == {"replenishment_timing": {"arms": {"evening": {
        "assigned": 1, "exposed": 1, "converted": 1, "revenue": 0.0}}}}


def test_preference_webhooks_caps_and_double_opt_in(report: dict[str, Any]) -> None:
    assert report["operations"]["preferences"] == {
        "webhooks": 5, "updates": 5, "frequency_caps": {"email": 1},
        "double_opt_in": {"email": {"requested": 2, "confirmed": 1, "cancelled": 1}}}


def test_subject_exports_and_erasures(report: dict[str, Any]) -> None:
    subjects = report["operations"]["subjects"]
    assert (subjects["exports"], subjects["erasures"], subjects["erasure_notices"]) == (1, 1, 1)
    assert subjects["deleted"] == {"optin_requests": 1, "profile": 1, "preferences": 1,
                                   "data_keys": 0, "quarantined_events": 0, "sends": 0,
                                   "linked_quarantined_events": 0, "linked_data_keys": 0,
                                   "identity_links": 0, "deliveries": 0, "experiments": 0}
    assert subjects["scrubs"] == {"complete": 1, "incomplete": 0}
    assert report["other"]["subjects_erased"] == 1


def test_the_outbox_per_destination(report: dict[str, Any]) -> None:
    outbox = report["operations"]["outbox"]
    assert outbox["queued_by_notice"] == {"suppression": 2, "erasure": 1}
    assert outbox["by_destination"] == {"esp": {"queued": 3, "attempts": 3, "delivered": 1,
                                                "retried": 1, "dead_lettered": 1}}
    assert outbox["errors"] == {"http 503": 2}


def test_event_deliveries_per_destination_in_events(report: dict[str, Any]) -> None:
    deliveries = report["operations"]["deliveries"]
    assert deliveries["events_by_destination"] == {"esp": {
        "queued": 3, "attempted": 4, "delivered": 2, "retried": 1, "dead_lettered": 1,
        "cancelled": 1, "requeued": 1}}
    assert deliveries["errors"] == {"http 503": 2}


def test_retention_and_the_operations_timeline(report: dict[str, Any]) -> None:
    operations = report["operations"]
    assert operations["retention"]["sweeps"] == 1
    assert operations["retention"]["deleted"]["quarantine"] == 1
    timeline = operations["timeline"]
    assert sorted(entry["kind"] for entry in timeline) == [
        "delivery.dead_lettered", "outbox.dead_lettered", "retention.swept", "subject.erased"]
    dead = next(e for e in timeline if e["kind"] == "outbox.dead_lettered")
    assert (dead["destination"], dead["attempt"], dead["error"]) == ("esp", 2, "http 503")
    assert [e["ts"] for e in timeline] == sorted(e["ts"] for e in timeline)


def test_quarantine_reconsent_and_segment_moves_use_the_written_fields(
        report: dict[str, Any]) -> None:
    other = report["other"]
    assert other["quarantine_released"] == 1
    assert other["quarantine_purged"] == {"consent.denied": 1, "quarantine.expired": 1,
                                          "retention.expired": 1}
    assert report["reconsent"]["by_reason"] == {"expired": 1}
    segments = report["segments"]
    assert segments["moves_outside_events"] == {"tick": 3}
    # The tick's exits count: recently_active is left by two of the subjects who entered it.
    active = segments["per_segment"]["recently_active"]
    assert active["exits"] == 2 and active["entries"] >= 2
    assert segments["per_segment"]["cart_abandoned"]["entries"] == 1


def test_the_report_names_no_subject_or_message(report: dict[str, Any]) -> None:
    text = json.dumps(report)
    assert not re.search(r"s_[0-9a-f]{32}", text)
    for needle in ("user-", "m-held", "m-allow", "ntc_", "m_"):
        assert needle not in text


ODD = {"subjects": "s", "channels": [1, None], "channel": ["email"], "reason": 7,
       "allowed": "yes", "requests": -3, "deleted": {"profile": "1", "sends": True},
       "notices": None, "complete": "true", "notice": {}, "destination": 5,
       "error": ["x"], "attempt": "2", "counts": [1], "segment": 3, "cause": None}


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_odd_content_in_any_kind_is_counted_not_fatal(tmp_path: Path, kind: str) -> None:
    with AuditLog(tmp_path, "odd", NoteSigner(generate_signer_key("odd")), fsync=False) as log:
        log.append({"kind": kind, "ts": "2024-05-01T10:00:00.000000Z", **ODD})
        log.append({"kind": kind, "ts": "not a time"})
    report = build_report(tmp_path)
    assert report["other"]["records_by_kind"] == {kind: 2}
    assert report["other"]["unknown_kinds"] == {}
    json.dumps(report)  # still JSON
