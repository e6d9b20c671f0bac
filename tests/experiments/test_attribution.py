"""Conversions: attributed from the event stream to exposed subjects, within the
window, once or summed, only while the experiment's purpose is allowed; exports
list and erasures delete a subject's experiment rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cdp_plugin.callbacks.auth import new_secret
from cdp_plugin.callbacks.settings import CallbackSettings
from cdp_plugin.callbacks.subjects import erase_subject, export_subject
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.model.experiments import HOLDOUT
from cdp_plugin.storage.records import ExperimentSubject
from tests.conftest import MakePipeline, assert_audit_verifies, audit_records
from tests.events import ALL_GRANTED, track
from tests.experiments.scenario import DAY, T, experiment_rules, opt_in, users_in


@pytest.fixture
def pipeline(make_pipeline: MakePipeline, tmp_path: Path) -> Pipeline:
    return make_pipeline(rules_dir=experiment_rules(tmp_path))


def _row(pipeline: Pipeline, experiment: str, user: str) -> ExperimentSubject:
    row = pipeline.runtime.store.experiment_subject(
        experiment, pipeline.runtime.pseudonymizer.subject(user))
    assert row is not None
    return row


def _order(pipeline: Pipeline, message: str, user: str, when: str, revenue: float = 42.5,
           consent: dict[str, bool] | None = ALL_GRANTED) -> bool:
    outcome = pipeline.process(track(message, user, consent=consent, timestamp=when,
                                     revenue=revenue, currency="EUR"))
    return outcome.forwarded


def _converted(pipeline: Pipeline, user: str) -> list[dict[str, object]]:
    key = pipeline.runtime.pseudonymizer.subject(user)
    return [r for r in audit_records(pipeline, "experiment.converted") if r["subject"] == key]


ARMS = {"timing": "evening", "copy": "question"}


def _exposed(pipeline: Pipeline, experiment: str) -> str:
    """A consenting user in the experiment's treatment arm, sent to once at ``T``."""
    [user] = users_in(pipeline, experiment, ARMS[experiment], 1, prefix=experiment)
    opt_in(pipeline, user)
    assert pipeline.may_contact(user, "email", at=T, experiment=experiment).allowed
    assert _row(pipeline, experiment, user).first_exposed_at == T
    return user


def test_a_conversion_counts_once_within_the_window(pipeline: Pipeline,
                                                    tmp_path: Path) -> None:
    user = _exposed(pipeline, "timing")
    assert _order(pipeline, "before", user, "2026-11-20T11:00:00Z")  # before the exposure
    assert not _row(pipeline, "timing", user).converted
    assert _order(pipeline, "late", user, "2026-11-27T12:00:01Z")  # a second past 7 days
    assert not _row(pipeline, "timing", user).converted
    assert _order(pipeline, "first", user, "2026-11-21T09:00:00Z")
    assert _order(pipeline, "second", user, "2026-11-22T09:00:00Z")
    row = _row(pipeline, "timing", user)
    assert row.converted and row.revenue == 0.0
    assert row.converted_at is not None and row.converted_at.isoformat().startswith("2026-11-21")
    [record] = _converted(pipeline, user)
    assert (record["experiment"], record["arm"], record["revenue"]) == ("timing", "evening", None)
    assert record["message"] == pipeline.runtime.pseudonymizer.message("first")
    pipeline.close()
    assert_audit_verifies(tmp_path)


def test_revenue_is_summed_over_conversions(pipeline: Pipeline) -> None:
    user = _exposed(pipeline, "copy")
    assert _order(pipeline, "o1", user, "2026-11-21T09:00:00Z", revenue=42.5)
    assert _order(pipeline, "o2", user, "2026-11-23T09:00:00Z", revenue=10.0)
    assert _order(pipeline, "o3", user, "2026-12-01T09:00:00Z", revenue=99.0)  # outside
    row = _row(pipeline, "copy", user)
    assert row.converted and row.revenue == 52.5
    assert [r["revenue"] for r in _converted(pipeline, user) if r["experiment"] == "copy"] == [
        42.5, 10.0]
    [arm] = [a for a in pipeline.runtime.store.experiment_arms("copy") if a.arm == row.arm]
    assert (arm.exposed, arm.converted, arm.revenue_sum, arm.revenue_sum_squares) == (
        1, 1, 52.5, 52.5 ** 2)


def test_a_withdrawal_stops_attribution(pipeline: Pipeline) -> None:
    user = _exposed(pipeline, "copy")
    assert _order(pipeline, "o1", user, "2026-11-21T09:00:00Z", revenue=5.0)
    opt_in(pipeline, user, marketing=False, at=T + DAY + DAY)
    # Still forwarded for the purposes that remain, but no longer for marketing.
    assert _order(pipeline, "o2", user, "2026-11-23T09:00:00Z", revenue=7.0,
                  consent={**ALL_GRANTED, "Marketing": False})
    [decision] = [r for r in audit_records(pipeline, "event.decision")
                  if r["message_id"] == pipeline.runtime.pseudonymizer.message("o2")]
    assert decision["action"] == "allow" and "marketing" not in decision["purposes"]
    assert _row(pipeline, "copy", user).revenue == 5.0
    assert len([r for r in _converted(pipeline, user) if r["experiment"] == "copy"]) == 1


def test_subjects_not_exposed_do_not_convert(pipeline: Pipeline) -> None:
    [assigned_only] = users_in(pipeline, "timing", "morning", 1, prefix="quiet")
    opt_in(pipeline, assigned_only)
    pipeline.may_contact(assigned_only, "email", at=T, experiment="timing", record=False)
    assert _row(pipeline, "timing", assigned_only).first_exposed_at is None
    stranger = "user-stranger@example.com"
    for user in (assigned_only, stranger):
        assert _order(pipeline, f"o-{user}", user, "2026-11-21T09:00:00Z")
        assert _converted(pipeline, user) == []
    assert not _row(pipeline, "timing", assigned_only).converted
    assert pipeline.runtime.store.experiment_subjects_of(
        pipeline.runtime.pseudonymizer.subject(stranger)) == []


def test_a_holdout_subject_converts_counterfactually(pipeline: Pipeline) -> None:
    [user] = users_in(pipeline, "timing", HOLDOUT, 1, prefix="held")
    opt_in(pipeline, user)
    assert pipeline.may_contact(user, "email", at=T, experiment="timing").reason == "holdout"
    assert _order(pipeline, "o1", user, "2026-11-21T09:00:00Z")
    row = _row(pipeline, "timing", user)
    assert row.arm == HOLDOUT and row.converted
    [record] = [r for r in _converted(pipeline, user) if r["experiment"] == "timing"]
    assert record["arm"] == HOLDOUT


def test_export_lists_and_erasure_deletes_experiment_rows(pipeline: Pipeline) -> None:
    user = _exposed(pipeline, "timing")
    _order(pipeline, "o1", user, "2026-11-21T09:00:00Z")
    export = export_subject(pipeline, user, T + 2 * DAY)
    [entry] = export["experiments"]
    assert (entry["experiment"], entry["arm"], entry["converted"]) == ("timing", "evening", True)
    assert entry["first_exposed_at"] == T.isoformat()
    key = pipeline.runtime.pseudonymizer.subject(user)
    erasure = erase_subject(pipeline, CallbackSettings(secrets=(new_secret(),)), user,
                            T + 3 * DAY)
    assert erasure is not None and erasure.deleted["experiments"] == 1
    assert pipeline.runtime.store.experiment_subjects_of(key) == []
    [erased] = audit_records(pipeline, "subject.erased")
    assert erased["deleted"]["experiments"] == 1


def test_a_future_dated_conversion_counts_no_later_than_its_receipt(
        make_pipeline: MakePipeline, tmp_path: Path) -> None:
    # The client's timestamp is hostile input: dated six days ahead, an order
    # received an hour after the send is recorded as received, not as dated.
    received = T + timedelta(hours=1)
    pipeline = make_pipeline(rules_dir=experiment_rules(tmp_path), clock=lambda: received)
    user = _exposed(pipeline, "timing")
    assert _order(pipeline, "m-future", user, (T + 6 * DAY).isoformat())
    row = _row(pipeline, "timing", user)
    assert row.converted and row.converted_at is not None
    assert row.converted_at <= received + timedelta(minutes=5)
