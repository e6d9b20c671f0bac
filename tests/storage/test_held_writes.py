"""Profile writes inside a transaction are held until it commits: nothing a caller
can observe changes, on either backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_the_last_write_per_subject_is_what_commits(store: Store) -> None:
    with store.transaction():
        for n in range(3):
            store.put_profile("sk_a", {"n": n}, T0 + timedelta(seconds=n))
        store.put_profile("sk_b", {"n": 9}, T0)
        assert store.get_profile("sk_a") == {"n": 2}
    assert dict(store.iter_profiles()) == {"sk_a": {"n": 2}, "sk_b": {"n": 9}}


def test_a_rolled_back_transaction_writes_no_held_profile(store: Store) -> None:
    store.put_profile("sk_a", {"n": 0}, T0)
    with pytest.raises(RuntimeError), store.transaction():
        store.put_profile("sk_a", {"n": 1}, T0)
        store.put_profile("sk_b", {"n": 1}, T0)
        raise RuntimeError("abandon")
    assert dict(store.iter_profiles()) == {"sk_a": {"n": 0}}
    with store.transaction():  # nothing held from the abandoned one is sent now
        store.put_profile("sk_c", {"n": 2}, T0)
    assert dict(store.iter_profiles()) == {"sk_a": {"n": 0}, "sk_c": {"n": 2}}


def test_statements_over_all_profiles_see_the_held_writes(store: Store) -> None:
    with store.transaction():
        store.put_profile("sk_old", {"n": 1, "drop": True}, T0)
        store.put_profile("sk_new", {"n": 2, "drop": True}, T0 + timedelta(days=10))
        assert dict(store.iter_profiles()) == {"sk_new": {"n": 2, "drop": True},
                                               "sk_old": {"n": 1, "drop": True}}
        assert store.drop_profile_fields_before(T0 + timedelta(days=20), ["drop"]) == 2
        store.put_profile("sk_gone", {"n": 3}, T0)
        assert store.delete_profiles_before(T0 + timedelta(days=1)) == 2
        assert store.get_profile("sk_old") is None
    assert dict(store.iter_profiles()) == {"sk_new": {"n": 2}}


def test_deleting_a_profile_not_yet_sent(store: Store) -> None:
    with store.transaction():
        store.put_profile("sk_a", {"n": 1}, T0)
        assert store.delete_profile("sk_a") is True
        assert store.get_profile("sk_a") is None
        assert store.delete_profile("sk_a") is False
        store.put_profile("sk_a", {"n": 2}, T0)
    assert store.get_profile("sk_a") == {"n": 2}


def test_bad_data_is_refused_at_the_call_and_the_rest_commits(store: Store) -> None:
    with store.transaction():
        store.put_profile("sk_a", {"n": 1}, T0)
        with pytest.raises(StorageError, match="data is not JSON-serializable"):
            store.put_profile("sk_b", {"n": {1, 2}}, T0)
    assert dict(store.iter_profiles()) == {"sk_a": {"n": 1}}
