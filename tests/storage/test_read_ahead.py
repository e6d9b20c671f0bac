"""Reading ahead (``prefetch_profiles``, ``prefetch_consent``) never changes an answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cdp_plugin.storage import ConsentRecord, Store
from tests.storage.conftest import StoreFactory

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
KEYS = [f"sk_{n:03d}" for n in range(7)]


def consent(subject_key: str, minutes: int, **purposes: bool) -> ConsentRecord:
    at = T0 + timedelta(minutes=minutes)
    return ConsentRecord(subject_key=subject_key, source="preference_center", captured_at=at,
                         received_at=at, purposes=purposes, channels={"email": True})


def seed(store: Store) -> None:
    for n, key in enumerate(KEYS[:4]):
        store.put_profile(key, {"n": n, "nested": {"z": 1, "a": [1.5, None, "x"]}}, T0)
        store.append_consent(consent(key, n, marketing=n % 2 == 0, analytics=True))


def answers(store: Store) -> list[object]:
    return [(store.get_profile(key), store.current_consent(key)) for key in KEYS]


def test_reads_ahead_answer_what_single_reads_answer(store: Store) -> None:
    seed(store)
    expected = answers(store)
    with store.transaction():
        store.prefetch_profiles(KEYS)
        store.prefetch_consent(KEYS + KEYS)  # repeats and subjects without rows included
        assert answers(store) == expected
        assert answers(store) == expected  # read twice from what was read ahead


def test_writes_after_reading_ahead_are_seen(store: Store) -> None:
    seed(store)
    with store.transaction():
        store.prefetch_profiles(KEYS)
        store.prefetch_consent(KEYS)
        store.put_profile(KEYS[0], {"n": "new"}, T0)
        store.put_profile(KEYS[5], {"n": "created"}, T0)
        store.delete_profile(KEYS[1])
        store.append_consent(consent(KEYS[2], 60, marketing=False))
        store.append_consent(consent(KEYS[6], 60, marketing=True))
        assert store.get_profile(KEYS[0]) == {"n": "new"}
        assert store.get_profile(KEYS[5]) == {"n": "created"}
        assert store.get_profile(KEYS[1]) is None
        assert store.current_consent(KEYS[2])["purpose", "marketing"].granted is False
        assert store.current_consent(KEYS[6])["purpose", "marketing"].granted is True
        assert store.delete_profiles_before(T0 + timedelta(days=1)) == 4
        assert [store.get_profile(key) for key in KEYS] == [None] * len(KEYS)


def test_a_profile_read_ahead_is_a_fresh_copy_each_time(store: Store) -> None:
    seed(store)
    with store.transaction():
        store.prefetch_profiles(KEYS)
        first = store.get_profile(KEYS[0])
        assert first is not None
        first["nested"]["z"] = 99
        assert store.get_profile(KEYS[0]) == {"n": 0, "nested": {"z": 1, "a": [1.5, None, "x"]}}


def test_nothing_read_ahead_outlives_its_transaction(store_factory: StoreFactory) -> None:
    store, other = store_factory(), store_factory()
    seed(store)
    with store.transaction():
        store.prefetch_profiles(KEYS)
        store.prefetch_consent(KEYS)
    other.put_profile(KEYS[0], {"n": "by another process"}, T0)
    other.append_consent(consent(KEYS[0], 90, marketing=False))
    assert store.get_profile(KEYS[0]) == {"n": "by another process"}
    assert store.current_consent(KEYS[0])["purpose", "marketing"].granted is False
    store.prefetch_profiles(KEYS)  # outside a transaction: nothing is kept
    other.put_profile(KEYS[0], {"n": "again"}, T0)
    assert store.get_profile(KEYS[0]) == {"n": "again"}


def test_a_failed_transaction_keeps_nothing_read_ahead(store: Store) -> None:
    seed(store)
    try:
        with store.transaction():
            store.prefetch_profiles(KEYS)
            store.put_profile(KEYS[0], {"n": "rolled back"}, T0)
            raise RuntimeError("the batch failed")
    except RuntimeError:
        pass
    assert store.get_profile(KEYS[0]) == {"n": 0, "nested": {"z": 1, "a": [1.5, None, "x"]}}


def test_a_link_repeated_in_a_transaction_is_written_once_and_survives_a_delete(
        store: Store) -> None:
    with store.transaction():
        store.link_identities("sk_a", "sk_b", T0)
        store.link_identities("sk_a", "sk_b", T0 + timedelta(minutes=1))
        assert store.linked_identities("sk_a") == ["sk_b"]
        assert store.delete_links("sk_b") == 1
        store.link_identities("sk_a", "sk_b", T0 + timedelta(minutes=2))  # written again
    assert store.linked_identities("sk_a") == ["sk_b"]
    assert store.linked_identities("sk_b") == ["sk_a"]


def test_messages_remembered_ahead_answer_as_one_by_one(store: Store) -> None:
    assert store.remember_message("m-old", T0)
    with store.transaction():
        store.remember_messages_ahead(["m-new", "m-old", "m-new", "m-twice", "m-pre"], T0)
        assert store.forget_message("m-pre")  # forgotten before its turn
        assert store.remember_message("m-pre", T0) is True
        assert store.remember_message("m-old", T0) is False  # seen before the batch
        assert store.remember_message("m-new", T0) is True  # first time
        assert store.remember_message("m-new", T0) is False  # the batch's replay
        assert store.remember_message("m-twice", T0) is True
        assert store.forget_message("m-twice")  # a plugin failed: a retry is no replay
        assert store.remember_message("m-twice", T0) is True
        assert store.remember_message("m-unhinted", T0) is True
    assert store.remember_message("m-new", T0) is False  # committed
    assert store.remember_message("m-twice", T0) is False
    assert store.remember_message("m-pre", T0) is False


def test_messages_remembered_ahead_go_with_a_failed_transaction(store: Store) -> None:
    try:
        with store.transaction():
            store.remember_messages_ahead(["m-1"], T0)
            raise RuntimeError("the batch failed")
    except RuntimeError:
        pass
    assert store.remember_message("m-1", T0) is True  # the claim was rolled back


def test_retention_inside_the_transaction_is_seen_by_messages_remembered_ahead(
        store: Store) -> None:
    assert store.remember_message("m-ancient", T0 - timedelta(days=400))
    with store.transaction():
        store.remember_messages_ahead(["m-ancient", "m-fresh"], T0)
        assert store.forget_messages_before(T0 - timedelta(days=30)) == 1
        assert store.remember_message("m-ancient", T0) is True  # its entry was aged out
        assert store.remember_message("m-fresh", T0) is True


def test_quarantine_counts_read_ahead_follow_adds_and_removals(store: Store) -> None:
    def hold(subject_key: str) -> int:
        return store.quarantine_add(subject_key, f"m-{subject_key}", "{}", T0,
                                    T0 + timedelta(hours=1))

    first = hold(KEYS[0])
    hold(KEYS[0])
    with store.transaction():
        store.prefetch_quarantine_counts(KEYS[:3])
        assert [store.quarantine_count(key) for key in KEYS[:3]] == [2, 0, 0]
        hold(KEYS[1])
        assert store.quarantine_count(KEYS[1]) == 1
        assert store.quarantine_remove([first]) == 1
        assert [store.quarantine_count(key) for key in KEYS[:3]] == [1, 1, 0]
    assert [store.quarantine_count(key) for key in KEYS[:3]] == [1, 1, 0]
