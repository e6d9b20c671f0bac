"""POST /v1/preferences: validation, responses, atomic batches, ordering, withdrawal effects."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin import hookimpl
from cdp_plugin.callbacks.auth import signed_headers
from cdp_plugin.callbacks.settings import Destination
from cdp_plugin.types import ConsentChange, ConsentUpdate, Status
from tests.callbacks.conftest import T0, USER, Client, MakeClient, encode, update
from tests.conftest import audit_records, message_keys
from tests.events import track


def test_a_single_update_is_applied(client: Client) -> None:
    response = client.post(update(purposes={"marketing": "granted"},
                                  channels={"email": "granted"},
                                  topics={"newsletter": "subscribed"},
                                  notice_version="2026-09",
                                  proof={"form_id": "prefs-v3", "text_hash": "sha256:" + "a" * 64}))

    assert response.status == 200
    [result] = response.json["results"]
    assert result["changes"] == [{"purpose": "marketing", "previous": "unknown",
                                  "current": "granted"}]
    assert client.grants() == {("purpose", "marketing"): True, ("channel", "email"): True,
                               ("topic", "newsletter"): True}
    [record] = client.pipeline.runtime.store.consent_history(result["subject"])
    assert record.notice_version == "2026-09"
    assert dict(record.proof) == {"form_id": "prefs-v3", "text_hash": "sha256:" + "a" * 64}


def test_a_batch_is_applied_in_order(client: Client) -> None:
    response = client.post({"updates": [
        update(T0, purposes={"marketing": "granted"}),
        update(T0 + timedelta(minutes=1), purposes={"marketing": "denied"}),
        update(T0, subject_id="user-dan", purposes={"analytics": "granted"}),
    ]})

    assert response.status == 200
    assert [len(r["changes"]) for r in response.json["results"]] == [1, 1, 1]
    assert client.grants() == {("purpose", "marketing"): False}
    assert client.grants("user-dan") == {("purpose", "analytics"): True}


def test_a_duplicate_webhook_id_is_acknowledged_and_not_applied_twice(client: Client) -> None:
    body = encode(update(purposes={"marketing": "granted"}))
    headers = signed_headers(client.secret, body)

    first = client.request("POST", "/v1/preferences", body, headers=headers, sign=False)
    # The sender retries the same message: same id and body, a new timestamp and signature.
    retry = signed_headers(client.secret, body, webhook_id=headers["webhook-id"])
    second = client.request("POST", "/v1/preferences", body, headers=retry, sign=False)

    assert (first.status, second.status) == (200, 200)
    assert second.json == {"status": "duplicate"}
    key = client.pipeline.runtime.pseudonymizer.subject(USER)
    assert len(client.pipeline.runtime.store.consent_history(key)) == 1


def test_field_errors_name_paths_and_never_echo_values(client: Client) -> None:
    secret_value = "jane.doe@example.org"
    response = client.post({"updates": [
        update(purposes={"marketing": "yes-" + secret_value}),
        {"subject_id": 42, "captured_at": "2026-11-20T09:00:00", secret_value: 1,
         "purposes": {secret_value: "granted"}},
    ]})

    assert response.status == 400
    fields = response.json["fields"]
    assert set(fields) == {"updates.0.purposes.marketing.value", "updates.1.subject_id",
                           "updates.1.captured_at", "updates.1.<unknown>",
                           "updates.1.purposes.<unknown>.key"}
    assert secret_value not in response.body.decode()
    assert client.grants() == {}


def test_an_update_must_say_something_and_not_come_from_the_future(client: Client) -> None:
    empty = client.post(update())
    future = client.post(update(T0 + timedelta(days=3650), purposes={"marketing": "granted"}))
    assert empty.status == future.status == 400
    assert "_schema" in empty.json["fields"]
    assert future.json["fields"] == {"captured_at": ["must not be in the future"]}


def test_unknown_fields_and_malformed_json_are_refused(client: Client) -> None:
    unknown = client.post({**update(purposes={"marketing": "granted"}), "extra": True})
    broken = client.request("POST", "/v1/preferences", b'{"subject_id": ')
    not_object = client.post([update(purposes={"marketing": "granted"})])
    assert unknown.status == broken.status == not_object.status == 400
    assert unknown.json["fields"] == {"<unknown>": ["Unknown field."]}
    assert broken.json == {"error": "invalid_json"}
    assert client.grants() == {}


def test_too_large_and_wrong_content_type(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=2048)
    big = encode({"updates": [update(purposes={"marketing": "granted"},
                                     notice_version="v" * 60)] * 20})
    assert len(big) > 2048

    too_large = client.post({"updates": [update(purposes={"marketing": "granted"},
                                                notice_version="v" * 60)] * 20})
    undeclared = client.request("POST", "/v1/preferences", big, content_length="")
    lying = client.request("POST", "/v1/preferences", b"{}", content_length="999999")
    wrong_type = client.post(update(purposes={"marketing": "granted"}),
                             content_type="text/plain")

    assert (too_large.status, undeclared.status, lying.status) == (413, 413, 413)
    assert wrong_type.status == 415
    assert client.grants() == {}


def test_wrong_method_and_unknown_path(client: Client) -> None:
    assert client.request("GET", "/v1/preferences").status == 405
    assert client.request("POST", "/v1/nothing-here").status == 404


def test_a_batch_is_atomic_when_a_later_item_fails(make_client: MakeClient) -> None:
    heard: list[ConsentChange] = []

    class FailsForDan:
        @hookimpl(tryfirst=True)
        def cdp_record_consent(self, update: ConsentUpdate) -> None:
            if update.subject_id == "user-dan":
                raise RuntimeError("ledger unavailable")

        @hookimpl
        def cdp_consent_changed(self, change: ConsentChange) -> None:
            heard.append(change)

    client = make_client(FailsForDan())
    body = encode({"updates": [update(purposes={"marketing": "granted"}),
                               update(subject_id="user-dan", purposes={"marketing": "granted"})]})
    headers = signed_headers(client.secret, body)

    failed = client.request("POST", "/v1/preferences", body, headers=headers, sign=False)

    assert failed.status == 500
    assert failed.json == {"error": "plugin_error", "plugin": "FailsForDan"}
    assert client.grants() == {}
    assert heard == []  # observers never hear of what was rolled back
    assert not audit_records(client.pipeline, "preferences.received")

    # Nothing was spent: the sender's retry of the same message is applied in full
    # once the plugin lets it through.
    client.pipeline.pm.unregister(name="FailsForDan")
    retry = signed_headers(client.secret, body, webhook_id=headers["webhook-id"])
    applied = client.request("POST", "/v1/preferences", body, headers=retry, sign=False)
    assert applied.status == 200 and applied.json["status"] == "applied"
    assert client.grants() == client.grants("user-dan") == {("purpose", "marketing"): True}


def test_observers_hear_of_a_batch_after_it_committed(make_client: MakeClient) -> None:
    seen: list[tuple[str, int]] = []

    class Observer:
        @hookimpl
        def cdp_consent_changed(self, change: ConsentChange, runtime: Any) -> None:
            # Committed: the ledger of the batch's last subject is already visible.
            dan = runtime.pseudonymizer.subject("user-dan")
            seen.append((change.purpose, len(runtime.store.consent_history(dan))))

    client = make_client(Observer())
    client.post({"updates": [update(purposes={"marketing": "granted"}),
                             update(subject_id="user-dan", purposes={"analytics": "granted"})]})
    assert seen == [("marketing", 1), ("analytics", 1)]


def test_an_older_update_is_kept_in_history_but_does_not_change_the_state(
        client: Client) -> None:
    client.post(update(T0, purposes={"marketing": "denied"}))
    stale = client.post(update(T0 - timedelta(hours=1), purposes={"marketing": "granted"}))

    assert stale.status == 200
    assert stale.json["results"][0]["changes"] == []
    assert client.grants() == {("purpose", "marketing"): False}
    key = client.pipeline.runtime.pseudonymizer.subject(USER)
    history = client.pipeline.runtime.store.consent_history(key)
    assert [dict(r.purposes) for r in history] == [{"marketing": False}, {"marketing": True}]


_SUBJECTS = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arrival_order_leaves_the_latest_captured_state(client: Client,
                                                            data: st.DataObject) -> None:
    """Property: whatever order updates arrive in, one by one or in batches,
    the current state per purpose and channel is the latest by captured_at."""
    subject = f"user-{next(_SUBJECTS)}"  # a fresh ledger for each example
    count = data.draw(st.integers(min_value=1, max_value=6))
    minutes = data.draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count,
                                 unique=True))
    updates = [update(T0 - timedelta(minutes=m), subject_id=subject,
                      purposes={"marketing": data.draw(st.sampled_from(["granted", "denied"]))},
                      channels={"email": data.draw(st.sampled_from(["granted", "denied"]))})
               for m in minutes]
    order = data.draw(st.permutations(updates))
    batch = data.draw(st.integers(1, 3))
    for start in range(0, len(order), batch):
        assert client.post({"updates": order[start:start + batch]}).status == 200

    latest = min(zip(minutes, updates, strict=True), key=lambda pair: pair[0])[1]
    assert client.grants(subject) == {
        ("purpose", "marketing"): latest["purposes"]["marketing"] == "granted",
        ("channel", "email"): latest["channels"]["email"] == "granted"}
    key = client.pipeline.runtime.pseudonymizer.subject(subject)
    assert len(client.pipeline.runtime.store.consent_history(key)) == count


def test_frequency_caps_keep_the_latest_per_channel(client: Client) -> None:
    client.post(update(T0, frequency_caps={"email": {"max": 1, "per_days": 7}}))
    client.post(update(T0 - timedelta(days=1), frequency_caps={
        "email": {"max": 9, "per_days": 7}, "sms": {"max": 2, "per_days": 30}}))

    key = client.pipeline.runtime.pseudonymizer.subject(USER)
    preferences = client.pipeline.runtime.store.get_preferences(key) or {}
    caps = preferences["frequency_caps"]
    assert "preferences" not in (client.pipeline.runtime.store.get_profile(key) or {})
    assert {c: (v["max"], v["per_days"]) for c, v in caps.items()} == {
        "email": (1, 7), "sms": (2, 30)}


def test_frequency_caps_are_ordered_as_instants_across_offsets(client: Client) -> None:
    """12:00+05:00 is 07:00Z, older than 10:00Z, though its text sorts after it."""
    newer = T0.replace(hour=10, minute=0, second=0, microsecond=0, tzinfo=UTC)
    older = newer.replace(hour=12, tzinfo=timezone(timedelta(hours=5)))
    assert older < newer and older.isoformat() > newer.isoformat()
    client.post(update(newer, frequency_caps={"email": {"max": 1, "per_days": 7}}))
    client.post(update(older, frequency_caps={"email": {"max": 9, "per_days": 7}}))
    key = client.pipeline.runtime.pseudonymizer.subject(USER)
    caps = (client.pipeline.runtime.store.get_preferences(key) or {})["frequency_caps"]
    assert caps["email"]["max"] == 1


def test_a_cap_set_in_the_preference_center_limits_contact(client: Client) -> None:
    client.post(update(T0, purposes={"marketing": "granted"}, channels={"email": "granted"},
                       frequency_caps={"email": {"max": 1, "per_days": 7}}))
    at = T0 + timedelta(days=1)
    assert client.pipeline.may_contact(USER, "email", at=at).allowed
    refused = client.pipeline.may_contact(USER, "email", at=at + timedelta(hours=1))
    assert (refused.allowed, refused.reason) == (False, "frequency_cap")


# --- effects of a withdrawal -------------------------------------------------------


def test_a_withdrawal_purges_the_subjects_quarantined_events(client: Client) -> None:
    held = client.pipeline.process_batch([
        track(f"m-{i}", USER, timestamp=f"2026-11-20T10:0{i}:00Z") for i in range(3)])
    assert {o.status for o in held} == {Status.QUARANTINED}

    response = client.post(update(T0 + timedelta(days=1), purposes=dict.fromkeys(
        ("analytics", "personalization", "marketing", "advertising"), "denied")))

    assert response.json["results"][0]["purged"] == 3
    key = client.pipeline.runtime.pseudonymizer.subject(USER)
    assert client.pipeline.runtime.store.quarantine_count(key) == 0
    assert [r["message_id"] for r in audit_records(client.pipeline, "quarantine.purged")] == (
        message_keys(client.pipeline, "m-0", "m-1", "m-2"))


ESP = Destination("esp", "https://esp.test/suppress", frozenset({"email"}),
                  frozenset({"newsletter"}))
ADS = Destination("ads", "https://ads.test/suppress")


def _notices(client: Client) -> list[tuple[str, dict[str, Any]]]:
    return [(n.destination, json.loads(n.payload))
            for n in client.pipeline.runtime.store.outbox_list()]


def test_withdrawals_queue_suppression_notices_for_the_destinations_concerned(
        make_client: MakeClient) -> None:
    client = make_client(destinations={"esp": ESP, "ads": ADS})
    client.post(update(T0, purposes={"marketing": "granted", "advertising": "granted"},
                       channels={"email": "granted", "sms": "granted"},
                       topics={"newsletter": "subscribed"}))
    assert _notices(client) == []

    response = client.post(update(T0 + timedelta(hours=1),
                                  purposes={"marketing": "denied", "advertising": "denied"},
                                  channels={"email": "denied", "sms": "denied"},
                                  topics={"newsletter": "unsubscribed"}))

    assert response.json["results"][0]["notices"] == 4
    sent = {(destination, body["scope"], body["name"]) for destination, body in _notices(client)}
    # esp serves marketing and listens to email and newsletter; ads serves advertising;
    # nobody listens to sms.
    assert sent == {("esp", "purpose", "marketing"), ("esp", "channel", "email"),
                    ("esp", "topic", "newsletter"), ("ads", "purpose", "advertising")}
    reference = client.pipeline.runtime.pseudonymizer.field(USER)
    for _, body in _notices(client):
        assert body["type"] == "suppression"
        assert body["subject"] == reference  # the keyed hash destinations received
        assert USER not in json.dumps(body)
    assert len(audit_records(client.pipeline, "outbox.queued")) == 4


def test_a_withdrawal_already_in_force_queues_nothing_more(make_client: MakeClient) -> None:
    client = make_client(destinations={"esp": ESP})
    client.post(update(T0, purposes={"marketing": "denied"}))
    client.post(update(T0 + timedelta(hours=1), purposes={"marketing": "denied"}))
    client.post(update(T0 - timedelta(hours=1), purposes={"marketing": "granted"}))
    assert [body["name"] for _, body in _notices(client)] == ["marketing"]
