"""The identity-links part of the storage contract, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage import Store
from tests.storage.conftest import StoreFactory

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
USER, ANON, OTHER_ANON, STRANGER = "sk_user", "sk_anon", "sk_anon2", "sk_else"


def test_links_are_found_from_either_side_and_idempotent(store: Store) -> None:
    store.link_identities(USER, ANON, T0)
    store.link_identities(USER, ANON, T0)
    store.link_identities(USER, OTHER_ANON, T0)
    store.link_identities(USER, USER, T0)
    assert store.linked_identities(USER) == [ANON, OTHER_ANON]
    assert store.linked_identities(ANON) == [USER]
    assert store.linked_identities(STRANGER) == []


def test_deleting_links_removes_both_directions(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.link_identities(USER, ANON, T0)
    store.link_identities(OTHER_ANON, USER, T0)
    store.link_identities(STRANGER, ANON, T0)
    assert store.delete_links(USER) == 2
    reopened = store_factory()
    assert reopened.linked_identities(USER) == []
    assert reopened.linked_identities(ANON) == [STRANGER]


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(StorageError):
        store.link_identities(USER, ANON, datetime(2024, 5, 1))
    assert store.linked_identities(USER) == []
