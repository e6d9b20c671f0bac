"""The delivery-queue part of the storage contract, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage import Store
from cdp_plugin.storage.records import NewDelivery
from tests.storage.conftest import StoreFactory

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LEASE = T0 + timedelta(seconds=30)


def _new(subject: str, message: str, destination: str = "esp",
         purposes: tuple[str, ...] = ("marketing",)) -> NewDelivery:
    return NewDelivery(destination, subject, message, purposes, f'{{"m":"{message}"}}')


def _leased_messages(store: Store, destination: str = "esp", at: datetime = T0,
                     limit: int = 100) -> list[str]:
    return [d.message_key for d in store.delivery_lease(destination, at, at + timedelta(
        seconds=30), limit)]


def test_adding_is_idempotent_per_destination_and_message(store: Store) -> None:
    assert store.delivery_add([_new("s1", "m1"), _new("s1", "m1", "warehouse")], T0) == 2
    assert store.delivery_add([_new("s1", "m1"), _new("s1", "m2")], T0) == 1
    queued = store.delivery_list()
    assert [(d.destination, d.message_key, d.status, d.attempts) for d in queued] == [
        ("esp", "m1", "pending", 0), ("warehouse", "m1", "pending", 0), ("esp", "m2", "pending", 0)]
    assert queued[0].purposes == ("marketing",) and queued[0].payload == '{"m":"m1"}'


def test_a_lease_takes_due_rows_of_one_destination_oldest_first(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s2", "m2"), _new("s1", "m3", "warehouse")], T0)
    assert _leased_messages(store) == ["m1", "m2"]
    assert _leased_messages(store) == []  # leased until LEASE
    assert [d.attempts for d in store.delivery_list(destination="esp")] == [1, 1]
    assert _leased_messages(store, at=LEASE) == ["m1", "m2"]  # the lease ran out: retried


def test_a_failed_event_blocks_the_subjects_later_events_only(store: Store) -> None:
    store.delivery_add([_new("s1", "m1")], T0)
    first = store.delivery_lease("esp", T0, LEASE, 10)
    store.delivery_add([_new("s1", "m2"), _new("s2", "m3")], T0)
    retry_at = T0 + timedelta(seconds=10)  # m3 is still leased then
    assert store.delivery_settle([(first[0].id, 1)], "pending", retry_at, "http 500", T0) == 1
    assert _leased_messages(store) == ["m3"]  # s1's m2 waits behind m1
    assert _leased_messages(store, at=retry_at) == ["m1", "m2"]  # in order, together


def test_a_dead_letter_releases_the_barrier(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s1", "m2")], T0)
    leased = store.delivery_lease("esp", T0, LEASE, 1)
    assert [d.message_key for d in leased] == ["m1"]
    assert _leased_messages(store) == []  # m1 is in flight
    store.delivery_settle([(leased[0].id, 1)], "dead", T0, "http 400", T0)
    assert _leased_messages(store) == ["m2"]


def test_a_limit_never_splits_a_subject_out_of_order(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s2", "m2"), _new("s1", "m3")], T0)
    assert _leased_messages(store, limit=2) == ["m1", "m2"]
    assert _leased_messages(store, limit=2) == []  # m3 waits for m1's lease


def test_a_stale_settle_changes_nothing(store: Store) -> None:
    store.delivery_add([_new("s1", "m1")], T0)
    first = store.delivery_lease("esp", T0, LEASE, 10)[0]
    store.delivery_lease("esp", LEASE, LEASE + timedelta(seconds=30), 10)  # lease ran out
    assert store.delivery_settle([(first.id, 1)], "delivered", T0, None, T0) == 0
    assert store.delivery_settle([(first.id, 2)], "delivered", T0, None, T0) == 1
    assert store.delivery_list()[0].status == "delivered"


def test_giving_an_attempt_back_leaves_the_count(store: Store) -> None:
    store.delivery_add([_new("s1", "m1")], T0)
    leased = store.delivery_lease("esp", T0, LEASE, 10)[0]
    assert store.delivery_settle([(leased.id, 1)], "pending", T0, None, T0,
                                 count_attempt=False) == 1
    assert store.delivery_list()[0].attempts == 0
    with pytest.raises(StorageError):
        store.delivery_settle([(leased.id, 0)], "dead", T0, None, T0, count_attempt=False)
    with pytest.raises(StorageError):
        store.delivery_settle([(leased.id, 0)], "sent", T0, None, T0)


def test_cancel_takes_the_pending_rows_a_withdrawn_purpose_justified(store: Store) -> None:
    store.delivery_add([_new("s1", "m1", purposes=("analytics", "marketing")),
                        _new("s1", "m2", "warehouse", purposes=("analytics",)),
                        _new("s2", "m3")], T0)
    done = store.delivery_lease("warehouse", T0, LEASE, 10)[0]
    store.delivery_settle([(done.id, 1)], "delivered", T0, None, T0)
    store.delivery_add([_new("s1", "m4", "warehouse", purposes=("analytics",))], T0)
    cancelled = store.delivery_cancel(["s1"], ["marketing"], T0)
    assert [d.message_key for d in cancelled] == ["m1"]
    assert [d.message_key for d in store.delivery_cancel(["s1"], None, T0)] == ["m4"]
    statuses = {d.message_key: d.status for d in store.delivery_list()}
    assert statuses == {"m1": "cancelled", "m2": "delivered", "m3": "pending",
                        "m4": "cancelled"}
    assert _leased_messages(store) == ["m3"]


def test_requeue_makes_dead_letters_pending_with_no_attempts(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.delivery_add([_new("s1", "m1"), _new("s2", "m2"), _new("s3", "m3", "warehouse")], T0)
    for destination in ("esp", "warehouse"):
        leased = store.delivery_lease(destination, T0, LEASE, 10)
        store.delivery_settle([(d.id, d.attempts) for d in leased], "dead", T0, "http 400", T0)
    assert store.delivery_counts() == {("esp", "dead"): 2, ("warehouse", "dead"): 1}
    m2 = store.delivery_list(status="dead", destination="esp")[1]
    assert [d.message_key for d in store.delivery_requeue("esp", [m2.id], T0)] == ["m2"]
    assert [d.message_key for d in store.delivery_requeue(None, None, T0)] == ["m1", "m3"]
    reopened = store_factory()
    assert {d.message_key: (d.status, d.attempts) for d in reopened.delivery_list()} == {
        "m1": ("pending", 0), "m2": ("pending", 0), "m3": ("pending", 0)}
    assert reopened.delivery_next_due("esp") == T0
    assert reopened.delivery_next_due("nowhere") is None


def test_delete_removes_every_status_of_the_subjects(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s1", "m2", "warehouse"), _new("s2", "m3")], T0)
    assert store.delivery_delete(["s1", "s1"]) == 2
    assert [d.subject_key for d in store.delivery_list()] == ["s2"]
    assert store.delivery_list(subject_key="s1") == []
    assert len(store.delivery_list(limit=0)) == 0


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(StorageError):
        store.delivery_add([_new("s1", "m1")], datetime(2024, 5, 1))


def test_the_payload_is_kept_only_until_it_is_sent_or_cancelled(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s1", "m2", "warehouse"), _new("s2", "m3")], T0)
    sent = store.delivery_lease("esp", T0, LEASE, 10)
    store.delivery_settle([(sent[0].id, 1)], "delivered", T0, None, T0)
    store.delivery_settle([(sent[1].id, 1)], "dead", T0, "http 400", T0)
    store.delivery_cancel(["s1"], None, T0)
    payloads = {d.message_key: (d.status, d.payload) for d in store.delivery_list()}
    assert payloads == {"m1": ("delivered", ""), "m2": ("cancelled", ""),
                        "m3": ("dead", '{"m":"m3"}')}


def test_forgetting_deletes_settled_deliveries_before_the_cutoff_only(store: Store) -> None:
    store.delivery_add([_new("s1", "m1"), _new("s2", "m2"), _new("s3", "m3"),
                        _new("s4", "m4")], T0)
    leased = store.delivery_lease("esp", T0, LEASE, 3)
    store.delivery_settle([(leased[0].id, 1)], "delivered", T0, None, T0)
    store.delivery_settle([(leased[1].id, 1)], "dead", T0, "http 400", T0)
    store.delivery_cancel(["s3"], None, T0 + timedelta(days=2))
    assert store.delivery_forget(T0 + timedelta(days=1)) == 2
    assert {d.message_key: d.status for d in store.delivery_list()} == {
        "m3": "cancelled", "m4": "pending"}
    assert store.delivery_forget(T0 + timedelta(days=9)) == 1  # pending m4 stays
    assert [d.message_key for d in store.delivery_list()] == ["m4"]
