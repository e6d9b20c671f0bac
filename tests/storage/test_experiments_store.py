"""The experiments part of the storage contract, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdp_plugin.errors import StorageError
from cdp_plugin.storage import Store
from cdp_plugin.storage.records import ExperimentArm, ExperimentSubject
from tests.storage.conftest import StoreFactory

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_first_assignment_stays(store: Store) -> None:
    assert store.experiment_assign("timing", "s1", "evening", T0) is True
    assert store.experiment_assign("timing", "s1", "morning", T0 + timedelta(days=1)) is False
    assert store.experiment_subject("timing", "s1") == ExperimentSubject(
        "timing", "s1", "evening", T0)
    assert store.experiment_subject("timing", "s2") is None
    assert store.experiment_subject("copy", "s1") is None


def test_only_the_first_exposure_counts(store: Store) -> None:
    assert store.experiment_expose("timing", "s1", T0) is False  # not assigned
    store.experiment_assign("timing", "s1", "evening", T0)
    assert store.experiment_expose("timing", "s1", T0 + timedelta(hours=1)) is True
    assert store.experiment_expose("timing", "s1", T0 + timedelta(hours=2)) is False
    row = store.experiment_subject("timing", "s1")
    assert row is not None and row.first_exposed_at == T0 + timedelta(hours=1)


def test_a_conversion_needs_an_exposure_and_sums_revenue(store: Store) -> None:
    store.experiment_assign("copy", "s1", "question", T0)
    assert store.experiment_convert("copy", "s1", 10.0, T0) is False  # not exposed
    store.experiment_expose("copy", "s1", T0)
    assert store.experiment_convert("copy", "s1", 10.0, T0 + timedelta(days=1)) is True
    assert store.experiment_convert("copy", "s1", 2.5, T0 + timedelta(days=2)) is True
    row = store.experiment_subject("copy", "s1")
    assert row is not None and row.converted and row.revenue == 12.5
    assert row.converted_at == T0 + timedelta(days=1)  # the first conversion


def test_arms_aggregate_exposed_subjects(store: Store) -> None:
    for key, arm, exposed, revenue in [("a", "control", True, 3.0), ("b", "control", True, 0.0),
                                       ("c", "control", False, 0.0),
                                       ("d", "treatment", True, 4.0),
                                       ("e", "holdout", True, 1.0)]:
        store.experiment_assign("copy", key, arm, T0)
        if exposed:
            store.experiment_expose("copy", key, T0)
        if revenue:
            store.experiment_convert("copy", key, revenue, T0)
    store.experiment_assign("other", "a", "control", T0)
    assert store.experiment_arms("copy") == [
        ExperimentArm("control", 3, 2, 1, 3.0, 9.0),
        ExperimentArm("holdout", 1, 1, 1, 1.0, 1.0),
        ExperimentArm("treatment", 1, 1, 1, 4.0, 16.0),
    ]
    assert store.experiment_arms("unknown") == []


def test_export_lists_and_erasure_deletes_a_subjects_rows(store: Store) -> None:
    store.experiment_assign("timing", "s1", "evening", T0)
    store.experiment_assign("copy", "s1", "question", T0)
    store.experiment_assign("copy", "s2", "statement", T0)
    assert [r.experiment for r in store.experiment_subjects_of("s1")] == ["copy", "timing"]
    assert store.experiment_delete(["s1", "s1", "nobody"]) == 2
    assert store.experiment_subjects_of("s1") == []
    assert [r.subject_key for r in store.experiment_subjects_of("s2")] == ["s2"]


def test_rows_survive_reopening(store_factory: StoreFactory) -> None:
    first = store_factory()
    first.experiment_assign("timing", "s1", "evening", T0)
    first.close()
    assert store_factory().experiment_subject("timing", "s1") is not None


def test_bad_arguments_raise_storage_errors(store: Store) -> None:
    with pytest.raises(StorageError, match="experiment_assign failed: at"):
        store.experiment_assign("timing", "s1", "evening", datetime(2026, 1, 1))
    store.experiment_assign("timing", "s1", "evening", T0)
    store.experiment_expose("timing", "s1", T0)
    with pytest.raises(StorageError, match="revenue must be a finite number"):
        store.experiment_convert("timing", "s1", float("nan"), T0)


def test_a_rolled_back_assignment_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.experiment_assign("timing", "s1", "evening", T0)
        raise RuntimeError("the unit of work failed")
    assert store.experiment_subject("timing", "s1") is None
