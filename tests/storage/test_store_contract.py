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
    assert store.get_meta("schema_version") == "1"


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
    assert second.get_meta("schema_version") == "1"


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
            assert opened.get_meta("schema_version") == "1"
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
