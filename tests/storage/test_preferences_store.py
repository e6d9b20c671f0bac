"""The preferences part of the storage contract, on every backend, and the upgrade
of a version 1 store that kept preferences inside the profile rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage import Store
from cdp_plugin.storage.base import SCHEMA_VERSION
from tests.storage.conftest import StoreFactory

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SUBJECT = "sk_3f9a1c"
OTHER = "sk_77b02e"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_preferences_put_get_replace_delete(store: Store) -> None:
    assert store.get_preferences(SUBJECT) is None
    store.put_preferences(SUBJECT, {"residency": "DE"}, at(0))
    store.put_preferences(SUBJECT, {"residency": "FR", "frequency_caps": {}}, at(1))
    store.put_preferences(OTHER, {"residency": "US-CA"}, at(1))

    assert store.get_preferences(SUBJECT) == {"residency": "FR", "frequency_caps": {}}
    assert store.delete_preferences(SUBJECT) is True
    assert store.delete_preferences(SUBJECT) is False
    assert store.get_preferences(SUBJECT) is None
    assert store.get_preferences(OTHER) == {"residency": "US-CA"}


def test_preferences_are_apart_from_the_profile(store: Store) -> None:
    store.put_profile(SUBJECT, {"features": {"event_count": 1}}, at(0))
    store.put_preferences(SUBJECT, {"residency": "DE"}, at(0))

    assert store.delete_profile(SUBJECT) is True
    assert store.get_preferences(SUBJECT) == {"residency": "DE"}
    assert store.delete_profiles_before(at(100)) == 0
    assert store.get_preferences(SUBJECT) == {"residency": "DE"}


def test_preferences_that_are_not_json_are_refused(store: Store) -> None:
    with pytest.raises(StorageError, match=r"put_preferences.*data"):
        store.put_preferences(SUBJECT, {"when": at(0)}, at(0))
    with pytest.raises(StorageError, match=r"put_preferences.*updated_at"):
        store.put_preferences(SUBJECT, {}, datetime(2024, 1, 1))  # naive
    assert store.get_preferences(SUBJECT) is None


def test_preferences_roll_back_with_the_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.put_preferences(SUBJECT, {"residency": "DE"}, at(0))
        raise RuntimeError("abort")
    assert store.get_preferences(SUBJECT) is None


def test_a_version_1_store_moves_preferences_out_of_the_profiles(
        store_factory: StoreFactory) -> None:
    old = store_factory()
    caps = {"email": {"max": 2, "per_days": 7, "captured_at": T0.isoformat()}}
    old.put_profile(SUBJECT, {"features": {"event_count": 4}, "residency": "DE",
                              "preferences": {"frequency_caps": caps}}, at(0))
    old.put_profile(OTHER, {"residency": "FR"}, at(0))
    old.put_profile("sk_third", {"segments": {"vip": {}}}, at(0))
    old.set_meta("schema_version", "1")
    old.close()

    upgraded = store_factory()
    assert upgraded.get_meta("schema_version") == SCHEMA_VERSION
    assert upgraded.get_profile(SUBJECT) == {"features": {"event_count": 4}}
    assert upgraded.get_preferences(SUBJECT) == {"frequency_caps": caps, "residency": "DE"}
    assert upgraded.get_profile(OTHER) is None  # nothing left but preferences
    assert upgraded.get_preferences(OTHER) == {"residency": "FR"}
    assert upgraded.get_profile("sk_third") == {"segments": {"vip": {}}}
    assert upgraded.get_preferences("sk_third") is None
    # The profile kept its update time: it ages towards deletion as before.
    assert upgraded.delete_profiles_before(at(1)) == 2
