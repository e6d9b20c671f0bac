"""The storage contract: every backend behaves the same (cdp_plugin.storage)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_plugin.errors import ConfigError, StorageError
from cdp_plugin.storage import ConsentRecord, CurrentConsent, Store, open_store
from cdp_plugin.storage.base import SCHEMA_VERSION
from cdp_plugin.storage.postgres import PostgresStore
from cdp_plugin.storage.sqlite import SQLiteStore

StoreFactory = Callable[[], Store]
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SUBJECT = "sk_3f9a1c"
OTHER = "sk_77b02e"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def record(
    captured_at: datetime,
    purposes: dict[str, bool] | None = None,
    channels: dict[str, bool] | None = None,
    subject_key: str = SUBJECT,
    source: str = "preference_center",
) -> ConsentRecord:
    return ConsentRecord(
        subject_key=subject_key,
        source=source,
        captured_at=captured_at,
        received_at=captured_at + timedelta(seconds=5),
        purposes=purposes or {},
        channels=channels or {},
    )


def grants(store: Store, subject_key: str = SUBJECT) -> dict[tuple[str, str], bool]:
    return {key: entry.granted for key, entry in store.current_consent(subject_key).items()}


# --- message dedup ---------------------------------------------------------


def test_remember_message_tells_new_from_replay(store: Store) -> None:
    assert store.remember_message("m-1", at(0)) is True
    assert store.remember_message("m-1", at(1)) is False
    assert store.remember_message("m-2", at(1)) is True


def test_forget_messages_before_deletes_only_older_entries(store: Store) -> None:
    for minute, message_id in enumerate(["m-0", "m-1", "m-2"]):
        store.remember_message(message_id, at(minute))

    assert store.forget_messages_before(at(1)) == 1
    assert store.remember_message("m-1", at(5)) is False
    assert store.remember_message("m-2", at(5)) is False
    assert store.remember_message("m-0", at(5)) is True


def test_forget_message_makes_it_new_again(store: Store) -> None:
    store.remember_message("m-1", at(0))
    store.remember_message("m-2", at(0))

    assert store.forget_message("m-1") is True
    assert store.forget_message("m-1") is False
    assert store.remember_message("m-1", at(1)) is True
    assert store.remember_message("m-2", at(1)) is False


def test_replay_keeps_the_first_sighting(store: Store) -> None:
    store.remember_message("m-1", at(0))
    store.remember_message("m-1", at(10))

    assert store.forget_messages_before(at(5)) == 1


# --- consent ledger --------------------------------------------------------


def test_append_assigns_increasing_seq_and_history_keeps_append_order(store: Store) -> None:
    appended = [
        store.append_consent(record(at(2), {"ads": True})),
        store.append_consent(record(at(0), {"ads": False})),
        store.append_consent(record(at(1), channels={"email": True})),
    ]
    store.append_consent(record(at(0), {"ads": True}, subject_key=OTHER))

    seqs = [r.seq or 0 for r in appended]
    assert all(seq > 0 for seq in seqs)
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert store.consent_history(SUBJECT) == appended
    assert store.consent_history("sk_unknown") == []


def test_append_returns_the_record_with_only_seq_set(store: Store) -> None:
    original = record(at(0), {"ads": True}, {"sms": False})

    appended = store.append_consent(original)

    assert appended.seq is not None
    assert appended == ConsentRecord(
        subject_key=original.subject_key, source=original.source,
        captured_at=original.captured_at, received_at=original.received_at,
        purposes=original.purposes, channels=original.channels, seq=appended.seq,
    )


def test_history_round_trips_every_field(store: Store) -> None:
    original = ConsentRecord(
        subject_key=SUBJECT,
        source="tcf",
        captured_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        received_at=datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
        purposes={"ads": True, "analytics": False, "personalisation": True},
        channels={"email": False, "push": True},
        notice_version="2024-02 v3",
        proof={"form_id": "pc-main", "text_hash": "sha256:ab12", "capture_method": "click"},
    )

    appended = store.append_consent(original)
    (stored,) = store.consent_history(SUBJECT)

    assert stored == appended
    assert stored.captured_at.utcoffset() == timedelta(0)
    assert stored.received_at.utcoffset() == timedelta(0)


def test_newer_record_sets_current_state(store: Store) -> None:
    first = store.append_consent(record(at(0), {"ads": True}, {"email": True}))
    second = store.append_consent(record(at(1), {"ads": False}, source="gpc"))

    current = store.current_consent(SUBJECT)

    assert current == {
        ("purpose", "ads"): CurrentConsent(
            name="ads", scope="purpose", granted=False, source="gpc",
            captured_at=at(1), seq=second.seq or 0,
        ),
        ("channel", "email"): CurrentConsent(
            name="email", scope="channel", granted=True, source="preference_center",
            captured_at=at(0), seq=first.seq or 0,
        ),
    }


def test_older_record_goes_to_history_but_not_current_state(store: Store) -> None:
    newer = store.append_consent(record(at(10), {"ads": True}))
    older = store.append_consent(record(at(5), {"ads": False, "analytics": False}))

    current = store.current_consent(SUBJECT)

    assert current[("purpose", "ads")].granted is True
    assert current[("purpose", "ads")].seq == newer.seq
    # The older record still speaks for a purpose nobody spoke about later.
    assert current[("purpose", "analytics")].seq == older.seq
    assert [r.seq for r in store.consent_history(SUBJECT)] == [newer.seq, older.seq]


def test_same_captured_at_goes_to_the_later_append(store: Store) -> None:
    store.append_consent(record(at(0), {"ads": True}))
    later = store.append_consent(record(at(0), {"ads": False}))

    assert store.current_consent(SUBJECT)[("purpose", "ads")].seq == later.seq
    assert grants(store) == {("purpose", "ads"): False}


def test_purposes_and_channels_with_one_name_are_separate(store: Store) -> None:
    store.append_consent(record(at(0), {"email": True}, {"email": False}))

    assert grants(store) == {("purpose", "email"): True, ("channel", "email"): False}
    assert grants(store, OTHER) == {}


def test_invalid_records_are_rejected_and_leave_nothing(store: Store) -> None:
    naive = datetime(2024, 1, 1, 12, 0)
    with pytest.raises(StorageError, match=r"append_consent.*captured_at"):
        store.append_consent(record(naive, {"ads": True}))
    with pytest.raises(StorageError, match=r"append_consent.*purposes\.ads"):
        store.append_consent(record(at(0), {"ads": "yes"}))  # type: ignore[dict-item]

    assert store.consent_history(SUBJECT) == []
    assert store.current_consent(SUBJECT) == {}


PURPOSES = ("ads", "analytics", "email")
CAPTURE_TIMES = tuple(at(minute) for minute in range(4))
_subjects = itertools.count()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    entries=st.lists(
        st.tuples(
            st.sampled_from(CAPTURE_TIMES),
            st.dictionaries(st.sampled_from(PURPOSES), st.booleans(), max_size=3),
            st.dictionaries(st.sampled_from(PURPOSES), st.booleans(), max_size=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_current_state_is_the_latest_captured_record(
    store: Store, entries: list[tuple[datetime, dict[str, bool], dict[str, bool]]]
) -> None:
    subject = f"sk_prop_{next(_subjects)}"  # the store is shared by every example
    appended = [
        store.append_consent(record(captured, purposes, channels, subject_key=subject))
        for captured, purposes, channels in entries
    ]

    expected: dict[tuple[str, str], tuple[datetime, int, bool]] = {}
    for entry in appended:
        assert entry.seq is not None
        for scope, values in (("purpose", entry.purposes), ("channel", entry.channels)):
            for name, granted in values.items():
                candidate = (entry.captured_at, entry.seq, granted)
                expected[(scope, name)] = max(expected.get((scope, name), candidate), candidate)

    current = store.current_consent(subject)
    assert {key: (c.captured_at, c.seq, c.granted) for key, c in current.items()} == expected
    assert store.consent_history(subject) == appended


# --- transactions ----------------------------------------------------------


class Boom(Exception):
    pass


def write_everything(store: Store) -> None:
    store.remember_message("m-tx", at(0))
    store.append_consent(record(at(0), {"ads": True}))
    store.put_profile(SUBJECT, {"tier": "gold"}, at(0))
    store.quarantine_add(SUBJECT, "m-q", "{}", at(0), at(60))
    store.put_key(SUBJECT, "k1", b"\x00wrapped", at(0))
    store.set_meta("checkpoint", "42")


def assert_nothing_written(store: Store) -> None:
    assert store.remember_message("m-tx", at(1)) is True
    assert store.consent_history(SUBJECT) == []
    assert store.current_consent(SUBJECT) == {}
    assert store.get_profile(SUBJECT) is None
    assert store.quarantine_count(SUBJECT) == 0
    assert store.get_keys(SUBJECT) == {}
    assert store.get_meta("checkpoint") is None


def test_transaction_commits_every_write(store: Store) -> None:
    with store.transaction():
        write_everything(store)

    assert store.remember_message("m-tx", at(1)) is False
    assert len(store.consent_history(SUBJECT)) == 1
    assert store.get_profile(SUBJECT) == {"tier": "gold"}
    assert store.quarantine_count(SUBJECT) == 1
    assert store.get_keys(SUBJECT) == {"k1": b"\x00wrapped"}
    assert store.get_meta("checkpoint") == "42"


def test_exception_inside_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(Boom), store.transaction():
        write_everything(store)
        raise Boom

    assert_nothing_written(store)


def test_nested_transaction_joins_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom), store.transaction():
        with store.transaction():
            write_everything(store)
        # The inner block has ended, but nothing is committed until the outer one does.
        raise Boom

    assert_nothing_written(store)


def test_swallowed_failure_inside_transaction_rolls_it_all_back(store: Store) -> None:
    with pytest.raises(StorageError, match="rolled back"), store.transaction():
        write_everything(store)
        try:
            with store.transaction():
                store.put_profile(OTHER, {"tier": "silver"}, at(0))
                raise Boom
        except Boom:
            pass
        with pytest.raises(StorageError, match="get_profile"):
            store.get_profile(OTHER)

    assert_nothing_written(store)
    assert store.get_profile(OTHER) is None


def test_failed_operation_inside_transaction_rolls_it_all_back(store: Store) -> None:
    store.put_key(SUBJECT, "k1", b"first", at(0))

    with pytest.raises(StorageError, match="put_key"), store.transaction():
        store.put_profile(SUBJECT, {"tier": "gold"}, at(0))
        store.put_key(SUBJECT, "k1", b"second", at(0))

    assert store.get_profile(SUBJECT) is None
    assert store.get_keys(SUBJECT) == {"k1": b"first"}


def test_store_is_usable_after_a_rolled_back_transaction(store: Store) -> None:
    with pytest.raises(Boom), store.transaction():
        store.put_profile(SUBJECT, {"v": 1}, at(0))
        raise Boom

    with store.transaction():
        store.put_profile(SUBJECT, {"v": 2}, at(1))
    assert store.get_profile(SUBJECT) == {"v": 2}


def test_other_connections_see_a_transaction_only_once_committed(
    store_factory: StoreFactory,
) -> None:
    writer, reader = store_factory(), store_factory()

    with writer.transaction():
        writer.put_profile(SUBJECT, {"v": 1}, at(0))
        writer.append_consent(record(at(0), {"ads": True}))
        assert reader.get_profile(SUBJECT) is None
        assert reader.consent_history(SUBJECT) == []

    assert reader.get_profile(SUBJECT) == {"v": 1}
    assert len(reader.consent_history(SUBJECT)) == 1


def test_concurrent_threads_each_see_a_message_once(store: Store) -> None:
    message_ids = [f"m-{i}" for i in range(40)]
    results: list[list[bool]] = [[] for _ in range(4)]

    def worker(out: list[bool]) -> None:
        for message_id in message_ids:
            with store.transaction():
                out.append(store.remember_message(message_id, at(0)))

    threads = [threading.Thread(target=worker, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [sum(column) for column in zip(*results, strict=True)] == [1] * len(message_ids)


# --- profiles --------------------------------------------------------------


def test_profile_upsert_get_and_delete(store: Store) -> None:
    assert store.get_profile(SUBJECT) is None

    store.put_profile(SUBJECT, {"tier": "gold", "visits": 1}, at(0))
    store.put_profile(SUBJECT, {"tier": "silver"}, at(1))
    store.put_profile(OTHER, {"tier": "bronze"}, at(1))

    assert store.get_profile(SUBJECT) == {"tier": "silver"}
    assert store.delete_profile(SUBJECT) is True
    assert store.delete_profile(SUBJECT) is False
    assert store.get_profile(SUBJECT) is None
    assert store.get_profile(OTHER) == {"tier": "bronze"}


def test_profile_json_round_trip(store: Store) -> None:
    data: dict[str, Any] = {
        "name": "Zoë 😀 \"quoted\" \\ back\nslash",
        "big": 2**70,
        "negative": -17,
        "ratio": 0.1,
        "whole_float": 3.0,
        "flags": [True, False, None],
        "nested": {"a": {"b": [1, {"c": []}]}, "empty": {}},
    }

    store.put_profile(SUBJECT, data, at(0))

    assert store.get_profile(SUBJECT) == data
    assert dict(store.iter_profiles()) == {SUBJECT: data}


def test_non_json_profile_is_rejected_and_not_stored(store: Store) -> None:
    with pytest.raises(StorageError, match=r"put_profile.*data"):
        store.put_profile(SUBJECT, {"when": at(0)}, at(0))
    with pytest.raises(StorageError, match=r"put_profile.*data"):
        store.put_profile(SUBJECT, {"score": float("nan")}, at(0))

    assert store.get_profile(SUBJECT) is None


def test_iter_profiles_pages_through_all_rows_in_key_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "page_size", 3)
    keys = ["sk_b", "sk_A", "sk_é", "sk_a", "sk_Z", "sk_0", "sk_ß", "sk_aa", "sk_~", "sk__"]
    with store.transaction():
        for number, key in enumerate(keys):
            store.put_profile(key, {"n": number}, at(0))

    seen = []
    for key, data in store.iter_profiles():
        # The store stays usable between pages.
        assert store.get_profile(key) == data
        seen.append(key)

    assert seen == sorted(keys)
    assert dict(store.iter_profiles()) == {key: {"n": n} for n, key in enumerate(keys)}


def test_iter_profiles_with_an_exact_number_of_pages(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "page_size", 2)
    assert list(store.iter_profiles()) == []
    for key in ["sk_1", "sk_2", "sk_3", "sk_4"]:
        store.put_profile(key, {}, at(0))

    assert [key for key, _ in store.iter_profiles()] == ["sk_1", "sk_2", "sk_3", "sk_4"]


# --- quarantine ------------------------------------------------------------


def test_quarantine_keeps_insertion_order_per_subject(store: Store) -> None:
    first = store.quarantine_add(SUBJECT, "m-1", '{"n": 1}', at(0), at(60))
    other = store.quarantine_add(OTHER, "m-2", '{"n": 2}', at(1), at(61))
    second = store.quarantine_add(SUBJECT, "m-3", '{"n": 3}', at(-5), at(30))

    assert first < other < second
    listed = store.quarantine_list(SUBJECT)
    assert [(e.id, e.message_id, e.payload) for e in listed] == [
        (first, "m-1", '{"n": 1}'),
        (second, "m-3", '{"n": 3}'),
    ]
    assert [(e.subject_key, e.received_at, e.expires_at) for e in listed] == [
        (SUBJECT, at(0), at(60)),
        (SUBJECT, at(-5), at(30)),
    ]
    assert store.quarantine_count(SUBJECT) == 2
    assert store.quarantine_count(OTHER) == 1
    assert store.quarantine_count("sk_unknown") == 0
    assert store.quarantine_list("sk_unknown") == []


def test_quarantine_remove_counts_what_it_removed(store: Store) -> None:
    ids = [store.quarantine_add(SUBJECT, f"m-{i}", "{}", at(0), at(60)) for i in range(4)]

    assert store.quarantine_remove([ids[0], ids[2], ids[2], 999_999]) == 2
    assert store.quarantine_remove([]) == 0
    assert [e.id for e in store.quarantine_list(SUBJECT)] == [ids[1], ids[3]]


def test_quarantine_expired_includes_the_boundary_in_insertion_order(store: Store) -> None:
    late = store.quarantine_add(SUBJECT, "m-1", "{}", at(0), at(90))
    due = store.quarantine_add(OTHER, "m-2", "{}", at(0), at(60))
    overdue = store.quarantine_add(SUBJECT, "m-3", "{}", at(0), at(30))

    assert [e.id for e in store.quarantine_expired(at(60))] == [due, overdue]
    assert [e.id for e in store.quarantine_expired(at(29))] == []
    assert [e.id for e in store.quarantine_expired(at(90))] == [late, due, overdue]


# --- keys ------------------------------------------------------------------


def test_keys_put_get_delete(store: Store) -> None:
    assert store.get_keys(SUBJECT) == {}
    store.put_key(SUBJECT, "k2", b"\x00\xffsecond", at(1))
    store.put_key(SUBJECT, "k1", b"first", at(0))
    store.put_key(OTHER, "k1", b"other", at(0))

    keys = store.get_keys(SUBJECT)
    assert keys == {"k1": b"first", "k2": b"\x00\xffsecond"}
    assert list(keys) == ["k1", "k2"]  # oldest first
    assert store.delete_keys(SUBJECT) == 2
    assert store.delete_keys(SUBJECT) == 0
    assert store.get_keys(SUBJECT) == {}
    assert store.get_keys(OTHER) == {"k1": b"other"}


def test_put_key_never_replaces_key_material(store: Store) -> None:
    store.put_key(SUBJECT, "k1", b"first", at(0))
    store.put_key(SUBJECT, "k1", b"first", at(5))  # the same key again is a no-op

    with pytest.raises(StorageError, match="put_key") as raised:
        store.put_key(SUBJECT, "k1", b"second", at(5))

    assert SUBJECT not in str(raised.value) and "second" not in str(raised.value)
    assert store.get_keys(SUBJECT) == {"k1": b"first"}


# --- meta ------------------------------------------------------------------


def test_meta_set_get_overwrite(store: Store) -> None:
    assert store.get_meta("checkpoint") is None
    store.set_meta("checkpoint", "1")
    store.set_meta("checkpoint", "2")
    store.set_meta("empty", "")

    assert store.get_meta("checkpoint") == "2"
    assert store.get_meta("empty") == ""
    assert store.get_meta("schema_version") == SCHEMA_VERSION


# --- datetimes -------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2099, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    ],
)
def test_datetimes_round_trip_as_utc_with_microseconds(store: Store, moment: datetime) -> None:
    store.append_consent(record(moment, {"ads": True}))
    store.quarantine_add(SUBJECT, "m-1", "{}", moment, moment)

    (stored,) = store.consent_history(SUBJECT)
    (held,) = store.quarantine_list(SUBJECT)
    returned = [
        stored.captured_at,
        store.current_consent(SUBJECT)[("purpose", "ads")].captured_at,
        held.received_at,
        held.expires_at,
    ]
    for value in returned:
        assert value == moment
        assert value.utcoffset() == timedelta(0)
        assert value.microsecond == moment.astimezone(UTC).microsecond


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.remember_message("m-1", datetime(2024, 1, 1)),
        lambda s: s.forget_messages_before(datetime(2024, 1, 1)),
        lambda s: s.put_profile(SUBJECT, {}, datetime(2024, 1, 1)),
        lambda s: s.quarantine_add(SUBJECT, "m-1", "{}", at(0), datetime(2024, 1, 1)),
        lambda s: s.quarantine_expired(datetime(2024, 1, 1)),
        lambda s: s.put_key(SUBJECT, "k1", b"k", datetime(2024, 1, 1)),
    ],
)
def test_naive_datetimes_are_rejected(store: Store, call: Callable[[Store], object]) -> None:
    with pytest.raises(StorageError, match="timezone-aware"):
        call(store)


# --- lifecycle -------------------------------------------------------------


def test_reopened_store_sees_committed_data(store_factory: StoreFactory) -> None:
    first = store_factory()
    first.put_profile(SUBJECT, {"v": 1}, at(0))
    first.append_consent(record(at(0), {"ads": True}))
    first.close()

    second = store_factory()
    assert second.get_profile(SUBJECT) == {"v": 1}
    assert grants(second) == {("purpose", "ads"): True}
    assert second.get_meta("schema_version") == SCHEMA_VERSION


def test_unknown_schema_version_is_refused(store_factory: StoreFactory) -> None:
    first = store_factory()
    first.set_meta("schema_version", "999")
    first.close()

    with pytest.raises(StorageError, match="schema version"):
        store_factory()


CLOSED_CALLS: dict[str, Callable[[Store], object]] = {
    "transaction": lambda s: s.transaction().__enter__(),
    "remember_message": lambda s: s.remember_message("m-1", at(0)),
    "forget_message": lambda s: s.forget_message("m-1"),
    "forget_messages_before": lambda s: s.forget_messages_before(at(0)),
    "append_consent": lambda s: s.append_consent(record(at(0), {"ads": True})),
    "consent_history": lambda s: s.consent_history(SUBJECT),
    "current_consent": lambda s: s.current_consent(SUBJECT),
    "get_profile": lambda s: s.get_profile(SUBJECT),
    "put_profile": lambda s: s.put_profile(SUBJECT, {}, at(0)),
    "delete_profile": lambda s: s.delete_profile(SUBJECT),
    "iter_profiles": lambda s: list(s.iter_profiles()),
    "get_preferences": lambda s: s.get_preferences(SUBJECT),
    "put_preferences": lambda s: s.put_preferences(SUBJECT, {}, at(0)),
    "delete_preferences": lambda s: s.delete_preferences(SUBJECT),
    "quarantine_add": lambda s: s.quarantine_add(SUBJECT, "m-1", "{}", at(0), at(1)),
    "quarantine_list": lambda s: s.quarantine_list(SUBJECT),
    "quarantine_count": lambda s: s.quarantine_count(SUBJECT),
    "quarantine_remove": lambda s: s.quarantine_remove([1]),
    "quarantine_expired": lambda s: s.quarantine_expired(at(0)),
    "put_key": lambda s: s.put_key(SUBJECT, "k1", b"k", at(0)),
    "get_keys": lambda s: s.get_keys(SUBJECT),
    "delete_keys": lambda s: s.delete_keys(SUBJECT),
    "get_meta": lambda s: s.get_meta("checkpoint"),
    "set_meta": lambda s: s.set_meta("checkpoint", "1"),
}


@pytest.mark.parametrize("operation", sorted(CLOSED_CALLS))
def test_closed_store_raises_storage_error_naming_the_operation(
    store: Store, operation: str
) -> None:
    store.close()
    store.close()  # idempotent

    with pytest.raises(StorageError) as raised:
        CLOSED_CALLS[operation](store)

    assert not isinstance(raised.value, sqlite3.Error | psycopg.Error)
    assert operation in str(raised.value)
    assert SUBJECT not in str(raised.value)


# --- open_store ------------------------------------------------------------


def test_open_store_takes_a_plain_path_or_a_sqlite_url(tmp_path: Path) -> None:
    by_path = open_store(str(tmp_path / "a" / "store.db"))
    by_url = open_store(f"sqlite:///{tmp_path / 'b' / 'store.db'}")
    try:
        assert isinstance(by_path, SQLiteStore) and isinstance(by_url, SQLiteStore)
        assert (tmp_path / "a" / "store.db").exists() and (tmp_path / "b" / "store.db").exists()
    finally:
        by_path.close()
        by_url.close()


def test_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "store.db"
    SQLiteStore(path).close()

    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "target",
    ["mysql://user:hunter2@db/x", "sqlite://relative.db", "sqlite:///", "", "   "],
)
def test_open_store_rejects_other_targets(target: str) -> None:
    with pytest.raises(ConfigError) as raised:
        open_store(target)
    assert "hunter2" not in str(raised.value)


def test_open_store_refuses_a_schema_for_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schema"):
        open_store(str(tmp_path / "store.db"), schema="cdp")


@pytest.mark.postgres
def test_open_store_takes_a_postgres_dsn(postgres_target: tuple[str, str, object]) -> None:
    dsn, schema, _ = postgres_target
    for target in (dsn, dsn.replace("postgresql://", "postgres://", 1)):
        opened = open_store(target, schema=schema)
        try:
            assert isinstance(opened, PostgresStore)
            assert opened.get_meta("schema_version") == SCHEMA_VERSION
        finally:
            opened.close()


def test_unreachable_postgres_is_a_storage_error_without_the_dsn() -> None:
    # Port 1 on the loopback address: nothing listens there, so the refusal is immediate.
    dsn = "postgresql://cdp:hunter2@127.0.0.1:1/nowhere"
    with pytest.raises(StorageError, match="cannot connect to PostgreSQL") as raised:
        PostgresStore(dsn)
    assert "hunter2" not in str(raised.value) and "127.0.0.1" not in str(raised.value)


def test_current_consent_carries_the_notice_version(store: Store) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    store.append_consent(ConsentRecord("s_a", "preference_center", at, at, {"analytics": True},
                                       {}, notice_version="2026-01"))
    [state] = store.current_consent("s_a").values()
    assert state.notice_version == "2026-01"


def test_stale_consent_finds_old_and_superseded_states(store: Store) -> None:
    old = datetime(2025, 1, 1, tzinfo=UTC)
    new = datetime(2026, 6, 1, tzinfo=UTC)
    store.append_consent(ConsentRecord("s_old", "import", old, old, {"analytics": True}, {},
                                       notice_version="2026-01"))
    store.append_consent(ConsentRecord("s_superseded", "import", new, new,
                                       {"marketing": True}, {"email": True},
                                       notice_version="2024-01"))
    store.append_consent(ConsentRecord("s_fresh", "import", new, new, {"analytics": True}, {},
                                       notice_version="2026-01"))
    cutoff = datetime(2025, 6, 1, tzinfo=UTC)
    found = [(key, state.scope, state.name) for key, state in
             store.stale_consent(cutoff, ["2024-01"])]
    assert found == [("s_old", "purpose", "analytics"), ("s_superseded", "channel", "email"),
                     ("s_superseded", "purpose", "marketing")]
    assert [key for key, _ in store.stale_consent(cutoff, [])] == ["s_old"]


def test_topics_are_kept_in_history_and_current_state(store: Store) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    store.append_consent(ConsentRecord("s_t", "preference_center", at, at, {}, {},
                                       topics={"newsletter": True, "offers": False}))
    later = at + timedelta(days=1)
    store.append_consent(ConsentRecord("s_t", "preference_center", later, later, {}, {},
                                       topics={"offers": True}))
    [first, _] = store.consent_history("s_t")
    assert first.topics == {"newsletter": True, "offers": False}
    current = store.current_consent("s_t")
    assert current[("topic", "offers")].granted is True
    assert current[("topic", "newsletter")].granted is True


# --- sends (frequency caps) ------------------------------------------------


def test_sends_since_is_ascending_strictly_after_since_and_per_channel(store: Store) -> None:
    store.record_send(SUBJECT, "email", "offers", at(30))
    store.record_send(SUBJECT, "email", None, at(10))
    store.record_send(SUBJECT, "email", "newsletter", at(20))
    store.record_send(SUBJECT, "sms", None, at(15))
    store.record_send(OTHER, "email", None, at(25))

    assert store.sends_since(SUBJECT, "email", at(0)) == [at(10), at(20), at(30)]
    assert store.sends_since(SUBJECT, "email", at(10)) == [at(20), at(30)]
    assert store.sends_since(SUBJECT, "sms", at(0)) == [at(15)]
    assert store.sends_since(SUBJECT, "push", at(0)) == []
    assert store.sends_since(OTHER, "email", at(0)) == [at(25)]


def test_sends_round_trip_as_utc_with_microseconds(store: Store) -> None:
    moment = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.record_send(SUBJECT, "push", None, moment)
    store.record_send(SUBJECT, "push", None, moment)  # the same instant twice counts twice

    sends = store.sends_since(SUBJECT, "push", moment - timedelta(microseconds=1))
    assert sends == [moment, moment]
    assert all(sent.utcoffset() == timedelta(0) for sent in sends)
    assert store.sends_since(SUBJECT, "push", moment) == []


def test_delete_sends_removes_only_the_subjects_sends(store: Store) -> None:
    store.record_send(SUBJECT, "email", None, at(1))
    store.record_send(SUBJECT, "sms", "offers", at(2))
    store.record_send(OTHER, "email", None, at(3))

    assert store.delete_sends(SUBJECT) == 2
    assert store.delete_sends(SUBJECT) == 0
    assert store.sends_since(SUBJECT, "email", at(0)) == []
    assert store.sends_since(SUBJECT, "sms", at(0)) == []
    assert store.sends_since(OTHER, "email", at(0)) == [at(3)]


def test_sends_roll_back_with_their_transaction(store: Store) -> None:
    with pytest.raises(Boom), store.transaction():
        store.record_send(SUBJECT, "email", None, at(1))
        assert store.sends_since(SUBJECT, "email", at(0)) == [at(1)]
        raise Boom

    assert store.sends_since(SUBJECT, "email", at(0)) == []


def test_other_connections_see_sends_once_committed(store_factory: StoreFactory) -> None:
    writer, reader = store_factory(), store_factory()

    with writer.transaction():
        writer.record_send(SUBJECT, "email", None, at(1))
        assert reader.sends_since(SUBJECT, "email", at(0)) == []

    assert reader.sends_since(SUBJECT, "email", at(0)) == [at(1)]


def test_a_check_and_record_waits_for_another_on_the_same_channel(
    store_factory: StoreFactory,
) -> None:
    first, second = store_factory(), store_factory()
    counted: list[int] = []

    def rival() -> None:
        with second.transaction():
            counted.append(len(second.sends_since(SUBJECT, "sms", at(-60))))
            second.record_send(SUBJECT, "sms", None, at(2))

    with first.transaction():
        assert first.sends_since(SUBJECT, "sms", at(-60)) == []
        thread = threading.Thread(target=rival)
        thread.start()
        # Give the rival the chance to count before this transaction commits;
        # it must wait instead, whatever the scheduling.
        thread.join(timeout=0.5)
        first.record_send(SUBJECT, "sms", None, at(1))
    thread.join()

    assert counted == [1]
    assert first.sends_since(SUBJECT, "sms", at(-60)) == [at(1), at(2)]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.record_send(SUBJECT, "email", None, datetime(2024, 1, 1)),
        lambda s: s.sends_since(SUBJECT, "email", datetime(2024, 1, 1)),
    ],
)
def test_naive_datetimes_are_rejected_by_sends(
    store: Store, call: Callable[[Store], object]
) -> None:
    with pytest.raises(StorageError, match="timezone-aware"):
        call(store)
    assert store.sends_since(SUBJECT, "email", at(-10**6)) == []


SEND_CALLS: dict[str, Callable[[Store], object]] = {
    "record_send": lambda s: s.record_send(SUBJECT, "email", "offers", at(0)),
    "sends_since": lambda s: s.sends_since(SUBJECT, "email", at(0)),
    "delete_sends": lambda s: s.delete_sends(SUBJECT),
}


@pytest.mark.parametrize("operation", sorted(SEND_CALLS))
def test_closed_store_send_calls_raise_storage_error_naming_the_operation(
    store: Store, operation: str
) -> None:
    store.close()

    with pytest.raises(StorageError) as raised:
        SEND_CALLS[operation](store)

    assert not isinstance(raised.value, sqlite3.Error | psycopg.Error)
    assert operation in str(raised.value)
    assert SUBJECT not in str(raised.value)


# --- preference-center callbacks: webhook ids, outbox, tombstones, double opt-in ------


def test_remember_webhook_returns_the_first_digest_of_a_known_id(store: Store) -> None:
    assert store.remember_webhook("msg_1", "d1", at(0)) is None
    assert store.remember_webhook("msg_1", "d2", at(1)) == "d1"
    assert store.remember_webhook("msg_2", "d2", at(1)) is None


def test_forget_webhooks_before_makes_older_ids_new_again(store: Store) -> None:
    store.remember_webhook("msg_old", "d", at(0))
    store.remember_webhook("msg_new", "d", at(10))

    assert store.forget_webhooks_before(at(5)) == 1
    assert store.remember_webhook("msg_old", "x", at(11)) is None
    assert store.remember_webhook("msg_new", "x", at(11)) == "d"


def test_webhook_id_is_forgotten_when_its_transaction_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.remember_webhook("msg_1", "d1", at(0))
        raise RuntimeError("abort")

    assert store.remember_webhook("msg_1", "d2", at(1)) is None


def _add_notice(store: Store, key: str, minute: int = 0, subject: str = SUBJECT) -> bool:
    return store.outbox_add(key, "esp", "suppression", subject, '{"k":1}', at(minute))


def test_outbox_add_is_idempotent_per_key(store: Store) -> None:
    assert _add_notice(store, "idem-1") is True
    assert _add_notice(store, "idem-1", minute=5) is False

    [notice] = store.outbox_list()
    assert (notice.idempotency_key, notice.status, notice.attempts) == ("idem-1", "pending", 0)
    assert notice.next_attempt_at == at(0)
    assert notice.payload == '{"k":1}'


def test_outbox_lease_starts_an_attempt_and_hides_the_notice_until_the_lease_ends(
    store: Store,
) -> None:
    _add_notice(store, "idem-1")
    _add_notice(store, "idem-2")
    _add_notice(store, "idem-later", minute=30)

    leased = store.outbox_lease(at(1), at(3), 10)

    assert [(n.idempotency_key, n.attempts, n.next_attempt_at) for n in leased] == [
        ("idem-1", 1, at(3)), ("idem-2", 1, at(3))]
    assert store.outbox_lease(at(2), at(4), 10) == []
    again = store.outbox_lease(at(3), at(5), 1)
    assert [(n.idempotency_key, n.attempts) for n in again] == [("idem-1", 2)]
    assert store.outbox_next_due() == at(3)


def test_outbox_settle_applies_only_to_the_latest_attempt(store: Store) -> None:
    _add_notice(store, "idem-1")
    [first] = store.outbox_lease(at(1), at(2), 10)
    [second] = store.outbox_lease(at(2), at(3), 10)

    assert store.outbox_settle(first.id, first.attempts, "delivered", at(2), None, at(2)) is False
    assert store.outbox_settle(second.id, second.attempts, "pending", at(9), "http 503",
                               at(3)) is True
    [notice] = store.outbox_list()
    assert (notice.status, notice.attempts, notice.next_attempt_at, notice.last_error) == (
        "pending", 2, at(9), "http 503")

    [third] = store.outbox_lease(at(9), at(10), 10)
    assert store.outbox_settle(third.id, third.attempts, "dead", at(10), "http 500", at(10))
    assert store.outbox_settle(third.id, third.attempts, "delivered", at(10), None,
                               at(10)) is False
    assert store.outbox_next_due() is None
    assert [n.status for n in store.outbox_list(status="dead")] == ["dead"]


def test_outbox_settle_rejects_an_unknown_status(store: Store) -> None:
    _add_notice(store, "idem-1")
    [notice] = store.outbox_lease(at(1), at(2), 10)

    with pytest.raises(StorageError, match="status"):
        store.outbox_settle(notice.id, notice.attempts, "lost", at(2), None, at(2))


def test_outbox_list_filters_by_subject_and_status(store: Store) -> None:
    _add_notice(store, "idem-1")
    _add_notice(store, "idem-2", subject=OTHER)
    [leased] = store.outbox_lease(at(1), at(2), 1)
    store.outbox_settle(leased.id, leased.attempts, "delivered", at(2), None, at(2))

    assert [n.idempotency_key for n in store.outbox_list(subject_key=OTHER)] == ["idem-2"]
    assert [n.idempotency_key for n in store.outbox_list(status="pending")] == ["idem-2"]
    assert [n.idempotency_key for n in store.outbox_list(SUBJECT, "delivered")] == ["idem-1"]


def test_concurrent_leases_never_hand_out_the_same_notice(
    store_factory: StoreFactory,
) -> None:
    first, second = store_factory(), store_factory()
    for number in range(20):
        _add_notice(first, f"idem-{number}")
    leased: list[str] = []
    lock = threading.Lock()

    def lease(store: Store) -> None:
        while batch := store.outbox_lease(at(1), at(60), 3):
            with lock:
                leased.extend(n.idempotency_key for n in batch)

    threads = [threading.Thread(target=lease, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(leased) == sorted(f"idem-{number}" for number in range(20))


def test_tombstones_are_kept_per_subject_in_order(store: Store) -> None:
    first = store.add_tombstone(SUBJECT, at(0), {"deleted": {"profile": 1}})
    second = store.add_tombstone(SUBJECT, at(5), {"deleted": {"profile": 0}})

    tombstones = store.tombstones(SUBJECT)
    assert [(t.id, t.erased_at, dict(t.proof)) for t in tombstones] == [
        (first, at(0), {"deleted": {"profile": 1}}), (second, at(5), {"deleted": {"profile": 0}})]
    assert store.tombstones(OTHER) == []
    with pytest.raises(StorageError, match="proof"):
        store.add_tombstone(SUBJECT, at(6), {"bad": object()})


def test_optin_requests_settle_once(store: Store) -> None:
    store.optin_add("tok-1", SUBJECT, "email", at(0), at(60), {"source": "preference_center"})

    request = store.optin_get("tok-1")
    assert request is not None
    assert (request.status, request.channel, request.expires_at, request.settled_at) == (
        "pending", "email", at(60), None)
    assert dict(request.details) == {"source": "preference_center"}
    assert store.optin_settle("tok-1", "confirmed", at(5)) is True
    assert store.optin_settle("tok-1", "cancelled", at(6)) is False
    settled = store.optin_get("tok-1")
    assert settled is not None
    assert (settled.status, settled.settled_at) == ("confirmed", at(5))
    assert store.optin_get("tok-unknown") is None
    with pytest.raises(StorageError):
        store.optin_add("tok-1", SUBJECT, "email", at(7), at(60), {})


def test_optin_cancel_only_touches_pending_requests_captured_until_then(store: Store) -> None:
    store.optin_add("tok-early", SUBJECT, "email", at(0), at(60), {})
    store.optin_add("tok-late", SUBJECT, "email", at(10), at(60), {})
    store.optin_add("tok-sms", SUBJECT, "sms", at(0), at(60), {})
    store.optin_add("tok-other", OTHER, "email", at(0), at(60), {})

    assert store.optin_cancel(SUBJECT, "email", at(5), at(20)) == 1
    assert [(r.token_id, r.status) for r in store.optin_list(SUBJECT)] == [
        ("tok-early", "cancelled"), ("tok-sms", "pending"), ("tok-late", "pending")]
    assert store.optin_delete(SUBJECT) == 3
    assert store.optin_list(SUBJECT) == []
    assert [r.token_id for r in store.optin_list(OTHER)] == ["tok-other"]


def test_scrub_deleted_refuses_to_run_inside_a_transaction(store: Store) -> None:
    with pytest.raises(StorageError, match="scrub_deleted"), store.transaction():
        store.scrub_deleted()


def test_sqlite_scrub_deleted_leaves_no_copy_of_a_deleted_row_in_its_files(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scrub.sqlite3"
    marker = "quarantined-marker-5d1c0e"
    store = SQLiteStore(path)
    try:
        for number in range(50):
            store.quarantine_add(SUBJECT, f"m-{number}", f'{{"email":"{marker}-{number}"}}',
                                 at(0), at(60))
        store.quarantine_remove([held.id for held in store.quarantine_list(SUBJECT)])

        assert store.scrub_deleted() is True
        files = [p for p in tmp_path.iterdir() if p.name.startswith("scrub.sqlite3")]
        assert files
        assert all(marker.encode() not in p.read_bytes() for p in files)
        assert store.quarantine_count(SUBJECT) == 0
    finally:
        store.close()


# --- segments: tallies, sizes and daily churn ---------------------------------------


def test_tallies_start_at_zero_and_accumulate(store: Store) -> None:
    from cdp_plugin.storage.base import Tally

    assert store.get_tally("aov:EUR") == Tally(0, 0.0)
    assert store.add_tally("aov:EUR", 1, 30.5) == Tally(1, 30.5)
    assert store.add_tally("aov:EUR", 2, 69.5) == Tally(3, 100.0)
    assert store.add_tally("aov:JPY", 1, 4000) == Tally(1, 4000.0)
    assert store.get_tally("aov:EUR") == Tally(3, 100.0)


@pytest.mark.parametrize("total", [float("nan"), float("inf"), True, "12"])
def test_a_tally_total_must_be_a_finite_number(store: Store, total: Any) -> None:
    with pytest.raises(StorageError, match="add_tally failed: total must be a finite number"):
        store.add_tally("aov:EUR", 1, total)
    assert store.get_tally("aov:EUR").count == 0


def test_concurrent_tally_additions_are_never_lost(store_factory: StoreFactory) -> None:
    stores = [store_factory(), store_factory()]

    def add(each: Store) -> None:
        for _ in range(25):
            each.add_tally("aov:EUR", 1, 2.0)

    threads = [threading.Thread(target=add, args=(each,)) for each in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally = stores[0].get_tally("aov:EUR")
    assert (tally.count, tally.total) == (50, 100.0)


def test_segment_changes_give_sizes_and_daily_churn(store: Store) -> None:
    from datetime import date

    from cdp_plugin.storage.base import SegmentDay

    monday, tuesday = date(2026, 10, 5), date(2026, 10, 6)
    assert store.count_segment_change("dormant", monday, 1, 0) == 1
    assert store.count_segment_change("dormant", monday, 1, 0) == 2
    assert store.count_segment_change("vip", monday, 1, 0) == 1
    assert store.count_segment_change("dormant", tuesday, 0, 1) == 1
    assert store.count_segment_change("dormant", tuesday, 3, 0) == 4
    assert store.segment_sizes() == {"dormant": 4, "vip": 1}
    assert store.segment_days() == [
        SegmentDay("dormant", monday, 2, 2, 0),
        SegmentDay("dormant", tuesday, 4, 3, 1),
        SegmentDay("vip", monday, 1, 1, 0),
    ]
    assert store.segment_days(since=tuesday) == [SegmentDay("dormant", tuesday, 4, 3, 1)]


def test_segment_changes_roll_back_with_their_transaction(store: Store) -> None:
    from datetime import date

    day = date(2026, 10, 5)
    store.count_segment_change("vip", day, 1, 0)
    with pytest.raises(RuntimeError), store.transaction():
        store.count_segment_change("vip", day, 5, 0)
        store.add_tally("aov:EUR", 1, 10.0)
        raise RuntimeError("abort")
    assert store.segment_sizes() == {"vip": 1}
    assert [d.entered for d in store.segment_days()] == [1]
    assert store.get_tally("aov:EUR").count == 0


SEGMENT_CALLS: dict[str, Callable[[Store], object]] = {
    "add_tally": lambda s: s.add_tally("aov:EUR", 1, 1.0),
    "get_tally": lambda s: s.get_tally("aov:EUR"),
    "count_segment_change": lambda s: s.count_segment_change("vip", T0.date(), 1, 0),
    "segment_sizes": lambda s: s.segment_sizes(),
    "segment_days": lambda s: s.segment_days(),
}


@pytest.mark.parametrize("operation", sorted(SEGMENT_CALLS))
def test_closed_store_segment_calls_raise_storage_error_naming_the_operation(
    store: Store, operation: str
) -> None:
    store.close()

    with pytest.raises(StorageError) as raised:
        SEGMENT_CALLS[operation](store)

    assert not isinstance(raised.value, sqlite3.Error | psycopg.Error)
    assert operation in str(raised.value)


# --- retention -------------------------------------------------------------


def test_quarantine_received_before_ignores_expiry(store: Store) -> None:
    first = store.quarantine_add(SUBJECT, "m-1", "{}", at(0), at(10_000))
    second = store.quarantine_add(OTHER, "m-2", "{}", at(5), at(6))
    store.quarantine_add(SUBJECT, "m-3", "{}", at(10), at(11))

    found = store.quarantine_received_before(at(10))

    assert [(held.id, held.message_id) for held in found] == [(first, "m-1"), (second, "m-2")]
    assert store.quarantine_received_before(at(0)) == []


def test_delete_profiles_before_deletes_only_older_profiles(store: Store) -> None:
    store.put_profile(SUBJECT, {"features": {"event_count": 1}}, at(0))
    store.put_profile(OTHER, {"features": {"event_count": 2}}, at(10))
    store.put_profile("sk_third", {}, at(20))
    store.put_profile(SUBJECT, {"features": {"event_count": 3}}, at(15))  # updated since

    assert store.delete_profiles_before(at(20)) == 2
    assert [key for key, _ in store.iter_profiles()] == ["sk_third"]
    assert store.delete_profiles_before(at(20)) == 0


def test_drop_profile_fields_before_keeps_the_rest_and_the_update_time(store: Store) -> None:
    store.put_profile(SUBJECT, {"features": {"event_count": 1}, "segments": {"vip": {}},
                                "residency": "DE"}, at(0))
    store.put_profile(OTHER, {"features": {"event_count": 2}}, at(10))
    store.put_profile("sk_third", {"residency": "FR"}, at(0))

    assert store.drop_profile_fields_before(at(5), ["features", "segments"]) == 1

    assert store.get_profile(SUBJECT) == {"residency": "DE"}
    assert store.get_profile(OTHER) == {"features": {"event_count": 2}}
    assert store.get_profile("sk_third") == {"residency": "FR"}
    assert store.drop_profile_fields_before(at(5), ["features"]) == 0
    assert store.drop_profile_fields_before(at(5), []) == 0
    # The profile still dates from its last real update.
    assert store.delete_profiles_before(at(1)) == 2


def test_drop_profile_fields_takes_names_literally(store: Store) -> None:
    store.put_profile(SUBJECT, {"a.b": 1, "a": {"b": 2}, "x[0]": 3, "é $": 4}, at(0))

    assert store.drop_profile_fields_before(at(1), ["a.b", "x[0]", "é $"]) == 1

    assert store.get_profile(SUBJECT) == {"a": {"b": 2}}
    with pytest.raises(StorageError, match="double quote"):
        store.drop_profile_fields_before(at(1), ['q"x'])


def test_blank_consent_proofs_keeps_state_history_and_current_evidence(store: Store) -> None:
    proof = {"ip_hash": "h1", "form": "signup-v3"}
    old = ConsentRecord(SUBJECT, "preference_center", at(0), at(0), {"ads": True},
                        {"email": True}, proof=proof)
    store.append_consent(old)
    store.append_consent(replace_captured(old, at(10), {"ads": False}, {}))  # supersedes ads
    store.append_consent(ConsentRecord(OTHER, "import", at(1), at(1), {"ads": True}, {},
                                       proof=proof))
    store.append_consent(ConsentRecord(OTHER, "import", at(30), at(30), {"ads": False}, {},
                                       proof=proof))
    before = {key: store.current_consent(key) for key in (SUBJECT, OTHER)}

    # SUBJECT's first record still decides its email channel: it keeps its proof.
    assert store.blank_consent_proofs(at(20)) == 1

    subject_history = store.consent_history(SUBJECT)
    other_history = store.consent_history(OTHER)
    assert [dict(r.proof) for r in subject_history] == [proof, proof]
    assert [dict(r.proof) for r in other_history] == [{}, proof]
    assert [dict(r.purposes) for r in other_history] == [{"ads": True}, {"ads": False}]
    assert {key: store.current_consent(key) for key in (SUBJECT, OTHER)} == before
    assert store.blank_consent_proofs(at(20)) == 0
    # Once a newer record decides both, SUBJECT's earlier records lose their proofs.
    store.append_consent(replace_captured(old, at(40), {"ads": True}, {"email": False}))
    assert store.blank_consent_proofs(at(100)) == 2
    assert [dict(r.proof) for r in store.consent_history(SUBJECT)] == [{}, {}, proof]


def replace_captured(record: ConsentRecord, captured: datetime, purposes: dict[str, bool],
                     channels: dict[str, bool]) -> ConsentRecord:
    return ConsentRecord(record.subject_key, record.source, captured, captured, purposes,
                         channels, proof=record.proof)


def test_delete_sends_before_deletes_every_subjects_older_sends(store: Store) -> None:
    store.record_send(SUBJECT, "email", None, at(0))
    store.record_send(SUBJECT, "email", None, at(10))
    store.record_send(OTHER, "sms", "offers", at(5))

    assert store.delete_sends_before(at(10)) == 2

    assert store.sends_since(SUBJECT, "email", at(-1)) == [at(10)]
    assert store.sends_since(OTHER, "sms", at(-1)) == []


def test_retention_deletes_roll_back_with_their_transaction(store: Store) -> None:
    store.put_profile(SUBJECT, {"features": {}}, at(0))
    store.record_send(SUBJECT, "email", None, at(0))
    store.append_consent(ConsentRecord(SUBJECT, "import", at(0), at(0), {"ads": True}, {},
                                       proof={"form": "v1"}))
    store.append_consent(ConsentRecord(SUBJECT, "import", at(1), at(1), {"ads": False}, {}))

    with pytest.raises(Boom), store.transaction():
        assert store.delete_profiles_before(at(5)) == 1
        assert store.delete_sends_before(at(5)) == 1
        assert store.blank_consent_proofs(at(5)) == 1
        raise Boom

    assert store.get_profile(SUBJECT) == {"features": {}}
    assert store.sends_since(SUBJECT, "email", at(-1)) == [at(0)]
    assert dict(store.consent_history(SUBJECT)[0].proof) == {"form": "v1"}


RETENTION_CALLS: dict[str, Callable[[Store], object]] = {
    "quarantine_received_before": lambda s: s.quarantine_received_before(at(0)),
    "delete_profiles_before": lambda s: s.delete_profiles_before(at(0)),
    "drop_profile_fields_before": lambda s: s.drop_profile_fields_before(at(0), ["features"]),
    "blank_consent_proofs": lambda s: s.blank_consent_proofs(at(0)),
    "delete_sends_before": lambda s: s.delete_sends_before(at(0)),
}


@pytest.mark.parametrize("operation", sorted(RETENTION_CALLS))
def test_closed_store_retention_calls_raise_storage_error_naming_the_operation(
    store: Store, operation: str
) -> None:
    store.close()

    with pytest.raises(StorageError) as raised:
        RETENTION_CALLS[operation](store)

    assert not isinstance(raised.value, sqlite3.Error | psycopg.Error)
    assert operation in str(raised.value)


@pytest.mark.parametrize("operation", sorted(RETENTION_CALLS))
def test_retention_calls_reject_naive_datetimes(store: Store, operation: str) -> None:
    naive = datetime(2024, 1, 1)
    calls: dict[str, Callable[[Store], object]] = {
        "quarantine_received_before": lambda s: s.quarantine_received_before(naive),
        "delete_profiles_before": lambda s: s.delete_profiles_before(naive),
        "drop_profile_fields_before": lambda s: s.drop_profile_fields_before(naive, ["x"]),
        "blank_consent_proofs": lambda s: s.blank_consent_proofs(naive),
        "delete_sends_before": lambda s: s.delete_sends_before(naive),
    }

    with pytest.raises(StorageError, match="timezone-aware"):
        calls[operation](store)


def test_iter_keys_lists_every_key_in_order_across_pages(store: Store) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    store.page_size = 3  # type: ignore[attr-defined]
    expected = []
    for subject in ("s_b", "s_a", "s_c"):
        for key_id in ("k2", "k1"):
            wrapped = f"{subject}/{key_id}".encode()
            store.put_key(subject, key_id, wrapped, at)
            expected.append((subject, key_id, wrapped))
    assert list(store.iter_keys()) == sorted(expected)
