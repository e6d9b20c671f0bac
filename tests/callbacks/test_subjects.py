"""Access and erasure: the export, the erasure and its proof, and the CLI commands."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from cdp_plugin.callbacks.auth import signed_headers
from cdp_plugin.callbacks.settings import Destination
from cdp_plugin.cli import subject as subject_cli
from cdp_plugin.config import Config
from cdp_plugin.keys.keyring import Keyring, KeyShredded
from cdp_plugin.types import Status
from tests.callbacks.conftest import T0, Client, MakeClient, encode, subject_request_body, update
from tests.conftest import RULES_DIR, audit_records
from tests.events import ALL_GRANTED, track

USER_ID = "user-zoe-7731"
ANONYMOUS_ID = "anon-zoe-55aa"
EMAIL = "zoe.erasure@example.net"
PHONE = "+4915199887766"
IDENTIFIERS = (USER_ID, ANONYMOUS_ID, EMAIL, PHONE)


def _event(message_id: str, consent: dict[str, bool] | None, name: str) -> dict[str, Any]:
    event = track(message_id, USER_ID, name, consent=consent,
                  timestamp="2026-11-20T10:00:00Z", revenue=30, currency="EUR",
                  email=EMAIL, comment=f"call me on {PHONE}")
    event["anonymousId"] = ANONYMOUS_ID
    return event


def _populate(client: Client) -> dict[str, Any]:
    """A subject with a ledger, preferences, features, forwarded and held events
    and an encrypted field; returns what the test needs to check the erasure."""
    pipeline = client.pipeline
    assert client.post(update(T0, subject_id=USER_ID, purposes={"advertising": "denied"},
                              residency="DE",
                              frequency_caps={"email": {"max": 2, "per_days": 7}})).status == 200
    forwarded = pipeline.process_batch([_event(f"m-ok-{i}", ALL_GRANTED, "Order Completed")
                                        for i in range(2)])
    held = pipeline.process_batch([_event(f"m-held-{i}", None, "Product Viewed")
                                   for i in range(3)])
    assert [o.status for o in forwarded] == [Status.FORWARDED] * 2
    assert [o.status for o in held] == [Status.QUARANTINED] * 3
    key = pipeline.runtime.pseudonymizer.subject(USER_ID)
    keyring = Keyring(pipeline.runtime.store, pipeline.runtime.pseudonymizer.master_keys)
    token = keyring.encrypt(key, "traits.email", EMAIL)
    assert keyring.decrypt(key, "traits.email", token) == EMAIL
    return {"key": key, "keyring": keyring, "token": token, "forwarded": len(forwarded)}


def _files_holding(root: Path, needles: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [n for n in needles if n.encode() in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


@pytest.fixture
def esp_client(make_client: MakeClient) -> Client:
    return make_client(destinations={"esp": Destination("esp", "https://esp.test/x")})


def test_export_returns_everything_held_and_cannot_be_replayed(esp_client: Client) -> None:
    populated = _populate(esp_client)
    body = subject_request_body("access", USER_ID)
    headers = signed_headers(esp_client.secret, body)

    response = esp_client.request("POST", "/v1/subject-requests", body, headers=headers,
                                  sign=False)

    assert response.status == 200
    export = response.json
    assert export["subject"] == populated["key"]
    assert [r["purposes"] for r in export["consent"]["history"]] == [{"advertising": False}]
    assert export["preferences"]["residency"] == "DE"
    assert export["preferences"]["frequency_caps"]["email"]["max"] == 2
    assert export["features"]["profiling"]
    assert [e["message_id"] for e in export["quarantined_events"]] == [
        f"m-held-{i}" for i in range(3)]
    assert export["quarantined_events"][0]["event"]["properties"]["email"] == EMAIL
    assert export["forwarded"]["events"] == populated["forwarded"]
    assert export["forwarded"]["by_destination"]
    for segment in export["segments"]:
        assert segment["explanation"]
    assert export["segments"], "the subject is expected in at least one segment"
    [audited] = audit_records(esp_client.pipeline, "subject.exported")
    assert audited["subject"] == populated["key"] and audited["quarantined"] == 3

    replay = esp_client.request("POST", "/v1/subject-requests", body, headers=headers,
                                sign=False)
    assert replay.status == 401 and replay.json["reason"] == "replayed_id"


def test_erasure_leaves_no_identifier_and_no_readable_field(
        esp_client: Client, config: Config, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    populated = _populate(esp_client)
    key = populated["key"]
    store = esp_client.pipeline.runtime.store
    esp_client.pipeline.runtime.audit_log.flush()
    # The raw events held in quarantine do carry the identifiers until the erasure.
    assert any(EMAIL in hits for hits in _files_holding(config.data_dir, IDENTIFIERS).values())

    response = esp_client.subject_request("erasure", USER_ID)

    assert response.status == 200
    erased = response.json
    assert erased["status"] == "erased" and erased["scrubbed"] is True
    assert erased["deleted"]["quarantined_events"] == 3
    assert erased["deleted"]["profile"] == 1
    assert erased["deleted"]["data_keys"] >= 1
    assert store.quarantine_count(key) == 0
    assert store.get_profile(key) is None
    assert erased["deleted"]["preferences"] == 1 and store.get_preferences(key) is None
    assert store.get_keys(key) == {}
    with pytest.raises(KeyShredded):
        populated["keyring"].decrypt(key, "traits.email", populated["token"])
    # Nothing captured before the erasure can be used again.
    [*_, last] = store.consent_history(key)
    assert last.source == "erasure" and not any(last.purposes.values())
    # Proof: a pseudonymous tombstone pointing at the audit record of the erasure.
    [tombstone] = store.tombstones(key)
    [record] = audit_records(esp_client.pipeline, "subject.erased")
    assert tombstone.proof["audit"]["index"] == record["seq"] == erased["audit_index"]
    assert record["subject"] == key
    [notice] = store.outbox_list(subject_key=key, status="pending")
    assert notice.kind == "erasure"
    assert json.loads(notice.payload)["subject"] == esp_client.pipeline.runtime.pseudonymizer.field(
        USER_ID)

    esp_client.pipeline.close()
    # Nor may an unkeyed hash of a request naming the subject let a guess be confirmed.
    path_hashes = tuple(hashlib.sha256(f"{method} /v1/subjects/{USER_ID}\n".encode()).hexdigest()
                        for method in ("DELETE", "GET", "POST"))
    assert _files_holding(tmp_path, IDENTIFIERS + path_hashes) == {}
    logged = caplog.text
    assert not [identifier for identifier in IDENTIFIERS if identifier in logged]


def test_an_erasure_request_is_applied_once_per_webhook_id(esp_client: Client) -> None:
    body = subject_request_body("erasure", USER_ID)
    headers = signed_headers(esp_client.secret, body)
    first = esp_client.request("POST", "/v1/subject-requests", body, headers=headers,
                               sign=False)
    retry = signed_headers(esp_client.secret, body, webhook_id=headers["webhook-id"])
    second = esp_client.request("POST", "/v1/subject-requests", body, headers=retry,
                                sign=False)
    moved_body = subject_request_body("erasure", "someone-else")
    other = signed_headers(esp_client.secret, moved_body, webhook_id=headers["webhook-id"])
    moved = esp_client.request("POST", "/v1/subject-requests", moved_body, headers=other,
                               sign=False)

    assert (first.status, second.status, moved.status) == (200, 200, 401)
    assert second.json["status"] == "duplicate"
    key = esp_client.pipeline.runtime.pseudonymizer.subject(USER_ID)
    assert len(esp_client.pipeline.runtime.store.tombstones(key)) == 1


def test_a_signature_serves_only_the_request_it_signed(esp_client: Client) -> None:
    """Standard Webhooks sign id.timestamp.body: the body must name subject and kind."""
    _populate(esp_client)
    body = subject_request_body("access", USER_ID)
    headers = signed_headers(esp_client.secret, body)
    for other in (subject_request_body("access", "someone-else"),
                  subject_request_body("erasure", USER_ID)):
        stolen = esp_client.request("POST", "/v1/subject-requests", other, headers=headers,
                                    sign=False)
        assert stolen.status == 401
    key = esp_client.pipeline.runtime.pseudonymizer.subject(USER_ID)
    assert esp_client.pipeline.runtime.store.tombstones(key) == []
    # The old routes signed an empty body, so one signature served any subject: gone.
    empty = signed_headers(esp_client.secret, b"")
    for method, path in (("GET", f"/v1/subjects/{USER_ID}/export"),
                         ("DELETE", f"/v1/subjects/{USER_ID}")):
        response = esp_client.request(method, path, headers=empty, sign=False)
        assert response.status == 410 and response.json["use"] == "POST /v1/subject-requests"
    assert audit_records(esp_client.pipeline, "subject.exported") == []


@pytest.mark.parametrize("payload", [
    {"subject_request_type": "delete", "subject_id": "u", "subject_request_id": str(uuid4())},
    {"subject_request_type": "access", "subject_request_id": str(uuid4())},
    {"subject_request_type": "access", "subject_id": "u", "subject_request_id": "nope"},
    {"subject_request_type": "access", "subject_id": "u", "subject_request_id": str(uuid4()),
     "jane@example.com": 1},
])
def test_a_malformed_subject_request_is_a_400_naming_fields(esp_client: Client,
                                                            payload: dict[str, Any]) -> None:
    response = esp_client.request("POST", "/v1/subject-requests", encode(payload))
    assert response.status == 400 and response.json["error"] == "invalid_payload"
    assert "jane@example.com" not in response.body.decode()


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cdp-plugin")
    subject_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_cli_export_and_erase(make_client: MakeClient, config: Config, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    client = make_client()
    _populate(client)
    client.pipeline.close()
    common = ["--data-dir", str(config.data_dir), "--audit-dir", str(config.audit_dir),
              "--rules", str(RULES_DIR), "--worker-id", "cli"]
    out = tmp_path / "export.json"

    assert _cli(["subject", "export", USER_ID, "--out", str(out), *common]) == 0
    export = json.loads(out.read_text())
    assert len(export["quarantined_events"]) == 3
    assert out.stat().st_mode & 0o077 == 0

    assert _cli(["subject", "erase", USER_ID, *common]) == 0
    erased = json.loads(capsys.readouterr().out)
    assert erased["deleted"]["quarantined_events"] == 3
    assert USER_ID not in json.dumps(erased)

    assert _cli(["subject", "export", USER_ID, *common]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["quarantined_events"] == [] and after["features"]["profiling"] == {}
    assert [e["deleted"]["quarantined_events"] for e in after["erasures"]] == [3]


def test_the_export_reads_the_audit_log_outside_the_application_lock(
        esp_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan of a long audit log must not stall every other webhook."""
    from cdp_plugin.callbacks import subjects

    populated = _populate(esp_client)
    held_during_scan: list[bool] = []
    scan = subjects._audit_records

    def watched(audit_dir: Path, subject_key: str) -> Any:
        held_during_scan.append(esp_client.app.lock.locked())
        yield from scan(audit_dir, subject_key)

    monkeypatch.setattr(subjects, "_audit_records", watched)
    response = esp_client.subject_request("access", USER_ID)
    assert response.status == 200
    assert response.json["forwarded"]["events"] == populated["forwarded"] > 0
    assert held_during_scan == [False]


def test_erasure_reaches_events_held_under_a_linked_anonymous_id(
        esp_client: Client, config: Config) -> None:
    """Events sent while the subject was anonymous are held under the anonymous id;
    a later identify links it, and the erasure of the user takes them too."""
    pipeline = esp_client.pipeline
    anonymous = track("m-anon-1", USER_ID, "Product Viewed", email=EMAIL)
    del anonymous["userId"]
    anonymous["anonymousId"] = ANONYMOUS_ID
    identify = {"type": "identify", "messageId": "m-identify", "userId": USER_ID,
                "anonymousId": ANONYMOUS_ID, "timestamp": "2026-11-20T10:05:00Z",
                "context": {"location": {"country": "DE"}}, "traits": {"plan": "pro"}}
    assert [o.status for o in pipeline.process_batch([anonymous, identify])] == [
        Status.QUARANTINED, Status.QUARANTINED]
    store = pipeline.runtime.store
    anon_key = pipeline.runtime.pseudonymizer.subject(ANONYMOUS_ID)
    assert store.quarantine_count(anon_key) == 1

    export = esp_client.subject_request("access", USER_ID).json
    assert export["linked_identities"] == 1 and len(export["quarantined_events"]) == 2

    erased = esp_client.subject_request("erasure", USER_ID).json
    assert erased["deleted"]["quarantined_events"] == 1
    assert erased["deleted"]["linked_quarantined_events"] == 1
    assert erased["deleted"]["identity_links"] == 1
    assert store.quarantine_count(anon_key) == 0
    assert store.linked_identities(anon_key) == []
    esp_client.pipeline.close()
    assert not any(EMAIL in hits for hits in _files_holding(config.data_dir, (EMAIL,)).values())
