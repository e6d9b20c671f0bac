"""The activation gate with ``experiment=``: assignment only with consent, holdouts
never contacted, variants named with their attributes, each step audited once."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_plugin.markers import hookimpl
from cdp_plugin.pipeline import Pipeline
from cdp_plugin.rules.model.experiments import HOLDOUT, Experiment
from cdp_plugin.types import ContactRequest
from tests.conftest import MakePipeline, assert_audit_verifies, audit_records
from tests.events import track
from tests.experiments.scenario import DAY, EXPERIMENTS, T, experiment_rules, opt_in, users_in


@pytest.fixture
def pipeline(make_pipeline: MakePipeline, tmp_path: Path) -> Pipeline:
    return make_pipeline(rules_dir=experiment_rules(tmp_path))


def _key(pipeline: Pipeline, user: str) -> str:
    return pipeline.runtime.pseudonymizer.subject(user)


def _records(pipeline: Pipeline, kind: str, user: str) -> list[dict[str, object]]:
    return [r for r in audit_records(pipeline, kind) if r["subject"] == _key(pipeline, user)]


def test_an_allowed_send_names_the_variant_and_its_attributes(pipeline: Pipeline,
                                                              tmp_path: Path) -> None:
    [user] = users_in(pipeline, "timing", "evening", 1)
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", purpose="marketing", at=T, experiment="timing")
    assert (answer.allowed, answer.reason, answer.experiment, answer.variant) == (
        True, "ok", "timing", "evening")
    assert dict(answer.attributes) == {"send_hour": 19}
    row = pipeline.runtime.store.experiment_subject("timing", _key(pipeline, user))
    assert row is not None and (row.arm, row.first_exposed_at) == ("evening", T)
    assert pipeline.runtime.store.sends_since(_key(pipeline, user), "email", T - DAY) == [T]
    [assigned] = _records(pipeline, "experiment.assigned", user)
    assert (assigned["experiment"], assigned["arm"]) == ("timing", "evening")
    [exposed] = _records(pipeline, "experiment.exposed", user)
    assert (exposed["channel"], exposed["counterfactual"]) == ("email", False)
    pipeline.close()
    assert_audit_verifies(tmp_path)


def test_assignment_and_exposure_are_audited_once(pipeline: Pipeline) -> None:
    [user] = users_in(pipeline, "timing", "morning", 1)
    opt_in(pipeline, user)
    answers = [pipeline.may_contact(user, "email", at=T + n * DAY, experiment="timing")
               for n in range(3)]
    assert [a.variant for a in answers] == ["morning"] * 3
    assert len(_records(pipeline, "experiment.assigned", user)) == 1
    assert len(_records(pipeline, "experiment.exposed", user)) == 1
    assert len(_records(pipeline, "activation.checked", user)) == 3
    row = pipeline.runtime.store.experiment_subject("timing", _key(pipeline, user))
    assert row is not None and row.first_exposed_at == T


def test_a_holdout_subject_is_never_allowed(pipeline: Pipeline) -> None:
    users = users_in(pipeline, "timing", HOLDOUT, 5)
    for user in users:
        opt_in(pipeline, user)
        for n in range(4):
            answer = pipeline.may_contact(user, "email", at=T + n * DAY, experiment="timing")
            assert (answer.allowed, answer.reason, answer.experiment) == (
                False, "holdout", "timing")
            assert answer.variant is None and dict(answer.attributes) == {}
        key = _key(pipeline, user)
        assert pipeline.runtime.store.sends_since(key, "email", T - DAY) == []  # never sent
        row = pipeline.runtime.store.experiment_subject("timing", key)
        assert row is not None and row.arm == HOLDOUT and row.first_exposed_at == T
        [exposed] = _records(pipeline, "experiment.exposed", user)
        assert exposed["counterfactual"] is True and exposed["arm"] == HOLDOUT
        assert all(r["allowed"] is False for r in _records(pipeline, "activation.checked", user))
    # Without the experiment, the same subject may be contacted: the holdout is per experiment.
    assert pipeline.may_contact(users[0], "email", at=T + 5 * DAY).allowed


def test_a_subject_without_the_purpose_is_refused_and_never_assigned(
        pipeline: Pipeline) -> None:
    user = "user-no-marketing@example.com"
    opt_in(pipeline, user, marketing=False)
    for name in ("timing", "copy"):
        answer = pipeline.may_contact(user, "email", at=T, experiment=name)
        assert not answer.allowed and answer.reason.startswith("purpose.")
        assert answer.experiment is None and answer.variant is None
        assert pipeline.runtime.store.experiment_subject(name, _key(pipeline, user)) is None
    stranger = "user-never-asked@example.com"
    assert not pipeline.may_contact(stranger, "email", at=T, experiment="timing").allowed
    assert _records(pipeline, "experiment.assigned", user) == []
    assert _records(pipeline, "experiment.assigned", stranger) == []
    assert _records(pipeline, "experiment.exposed", user) == []


def test_a_withdrawal_refuses_an_assigned_subject(pipeline: Pipeline) -> None:
    [user] = users_in(pipeline, "timing", "evening", 1)
    opt_in(pipeline, user)
    assert pipeline.may_contact(user, "email", at=T, experiment="timing").allowed
    opt_in(pipeline, user, marketing=False, at=T + DAY)
    answer = pipeline.may_contact(user, "email", at=T + 2 * DAY, experiment="timing")
    assert not answer.allowed and answer.reason.startswith("purpose.")


@pytest.mark.parametrize(("name", "at", "purpose", "reason"), [
    ("nonexistent", T, "marketing", "unknown_experiment"),
    ("timing", T.replace(month=12, day=1), "marketing", "experiment_not_running"),
    ("timing", T.replace(month=10), "marketing", "experiment_not_running"),
    ("draft_test", T, "marketing", "experiment_not_running"),
    ("timing", T, "analytics", "experiment.purpose_mismatch"),
])
def test_requests_the_experiment_cannot_answer(pipeline: Pipeline, name: str, at: object,
                                               purpose: str, reason: str) -> None:
    user = "user-opted-in@example.com"
    opt_in(pipeline, user, analytics=True)
    answer = pipeline.may_contact(user, "email", at=at, purpose=purpose,  # type: ignore[arg-type]
                                  experiment=name)
    assert (answer.allowed, answer.reason) == (False, reason)
    assert pipeline.runtime.store.experiment_subjects_of(_key(pipeline, user)) == []
    [checked] = _records(pipeline, "activation.checked", user)
    assert checked["reason"] == reason


def test_a_naive_time_is_refused_before_anything(pipeline: Pipeline) -> None:
    user = "user-naive@example.com"
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T.replace(tzinfo=None), experiment="timing")
    assert (answer.allowed, answer.reason) == (False, "invalid_time")
    assert pipeline.runtime.store.experiment_subject("timing", _key(pipeline, user)) is None


def test_eligibility_by_segment_needs_membership(make_pipeline: MakePipeline,
                                                 tmp_path: Path) -> None:
    text = EXPERIMENTS.replace('eligibility: {when: "coalesce(purchase_count, 0) >= 2"}',
                               "eligibility: {segment: repeat_buyer}")
    pipeline = make_pipeline(rules_dir=experiment_rules(tmp_path, text))
    newcomer, loyal = "user-new@example.com", "user-loyal@example.com"
    for user in (newcomer, loyal):
        opt_in(pipeline, user, personalization=True, analytics=True)
    for n in range(2):
        pipeline.process(track(f"order-{n}", loyal, timestamp=f"2026-11-1{n}T10:00:00Z"))
    assert pipeline.may_contact(newcomer, "email", at=T,
                                experiment="repeat_buyers_only").reason == "experiment.not_eligible"
    assert pipeline.may_contact(loyal, "email", at=T, experiment="repeat_buyers_only").allowed


def test_eligibility_by_condition(pipeline: Pipeline) -> None:
    newcomer, loyal = "user-new@example.com", "user-loyal@example.com"
    for user in (newcomer, loyal):
        opt_in(pipeline, user, personalization=True, analytics=True)
    for n in range(2):
        assert pipeline.process(track(f"order-{n}", loyal,
                                      timestamp=f"2026-11-1{n}T10:00:00Z")).forwarded
    refused = pipeline.may_contact(newcomer, "email", at=T, experiment="repeat_buyers_only")
    assert (refused.allowed, refused.reason) == (False, "experiment.not_eligible")
    assert pipeline.runtime.store.experiment_subject("repeat_buyers_only",
                                                     _key(pipeline, newcomer)) is None
    assert pipeline.may_contact(loyal, "email", at=T, experiment="repeat_buyers_only").allowed


def test_a_check_without_record_assigns_but_exposes_nothing(pipeline: Pipeline) -> None:
    [user] = users_in(pipeline, "copy", "question", 1)
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T, experiment="copy", record=False)
    assert answer.allowed and answer.variant == "question"
    row = pipeline.runtime.store.experiment_subject("copy", _key(pipeline, user))
    assert row is not None and row.first_exposed_at is None
    assert pipeline.runtime.store.sends_since(_key(pipeline, user), "email", T - DAY) == []
    assert _records(pipeline, "experiment.exposed", user) == []


class FixedVariant:
    """An outside experimentation service that always answers ``arm``."""

    def __init__(self, arm: str) -> None:
        self.arm = arm
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def cdp_assign_variant(self, request: ContactRequest, experiment: Experiment) -> str:
        self.asked.append((request.subject_key, experiment.name))
        return self.arm


def test_hook_cdp_assign_variant(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    service = FixedVariant("evening")
    pipeline = make_pipeline(service, rules_dir=experiment_rules(tmp_path))
    users = users_in(pipeline, "timing", "morning", 2) + users_in(pipeline, "timing", HOLDOUT, 1)
    for user in users:
        opt_in(pipeline, user)
        assert pipeline.may_contact(user, "email", at=T, experiment="timing").variant == "evening"
        pipeline.may_contact(user, "email", at=T + DAY, experiment="timing")
    # Asked once per subject: the stored arm answers afterwards.
    assert service.asked == [(_key(pipeline, u), "timing") for u in users]
    unasked = "user-without-consent@example.com"
    opt_in(pipeline, unasked, marketing=False)
    pipeline.may_contact(unasked, "email", at=T, experiment="timing")
    assert len(service.asked) == 3  # never asked about a subject without the purpose


def test_an_unknown_arm_from_a_plugin_is_a_plugin_error(make_pipeline: MakePipeline,
                                                        tmp_path: Path) -> None:
    pipeline = make_pipeline(FixedVariant("midnight"), rules_dir=experiment_rules(tmp_path))
    user = "user-ann@example.com"
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T, experiment="timing")
    assert (answer.allowed, answer.reason, answer.variant) == (False, "plugin_error", None)
    assert pipeline.runtime.store.experiment_subject("timing", _key(pipeline, user)) is None
    assert pipeline.runtime.store.sends_since(_key(pipeline, user), "email", T - DAY) == []
    [error] = _records(pipeline, "plugin.error", user)
    assert error["hook"] == "cdp_assign_variant"
    assert _records(pipeline, "experiment.assigned", user) == []


class Broken:
    @hookimpl
    def cdp_assign_variant(self) -> str:
        raise ConnectionError("service down")


def test_a_raising_assignment_plugin_means_no_contact(make_pipeline: MakePipeline,
                                                      tmp_path: Path) -> None:
    pipeline = make_pipeline(Broken(), rules_dir=experiment_rules(tmp_path))
    user = "user-bob@example.com"
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T, experiment="copy")
    assert (answer.allowed, answer.reason) == (False, "plugin_error")
    [error] = _records(pipeline, "plugin.error", user)
    assert (error["plugin"], error["error_type"]) == ("Broken", "ConnectionError")
    assert pipeline.runtime.store.experiment_subject("copy", _key(pipeline, user)) is None


def test_blocking_the_built_in_leaves_subjects_unassigned(make_pipeline: MakePipeline,
                                                          tmp_path: Path) -> None:
    pipeline = make_pipeline(rules_dir=experiment_rules(tmp_path),
                             blocked=("cdp_plugin.stages.experiments",))
    user = "user-cleo@example.com"
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T, experiment="copy")
    assert (answer.allowed, answer.reason) == (False, "experiment.unassigned")
    assert pipeline.runtime.store.experiment_subject("copy", _key(pipeline, user)) is None


def test_a_plugin_may_hold_a_subject_out(make_pipeline: MakePipeline, tmp_path: Path) -> None:
    pipeline = make_pipeline(FixedVariant(HOLDOUT), rules_dir=experiment_rules(tmp_path))
    [user] = users_in(pipeline, "copy", "question", 1)  # the keyed hash would send to it
    opt_in(pipeline, user)
    answer = pipeline.may_contact(user, "email", at=T, experiment="copy")
    assert (answer.allowed, answer.reason) == (False, "holdout")
    assert pipeline.runtime.store.sends_since(_key(pipeline, user), "email", T - DAY) == []
