"""A rules directory with test experiments, and the consent and subjects the gate tests use."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdp_plugin.pipeline import Pipeline
from cdp_plugin.types import ConsentUpdate

SHIPPED = Path(__file__).resolve().parents[2] / "rules"
T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

EXPERIMENTS = """\
version: 1
experiments:
  - name: timing
    hypothesis: "Evening reminders convert better"
    owner: crm
    review_status: approved
    status: running
    purpose: marketing
    holdout: 0.5
    control: morning
    variants:
      - {name: morning, attributes: {send_hour: 8}}
      - {name: evening, attributes: {send_hour: 19}}
    metric:
      match: {type: track, event: "Order Completed"}
      within_days: 7
      count: once
    minimum_detectable_effect: 0.2
    start: 2026-11-01
    end: 2026-12-01
  - name: copy
    hypothesis: "A question converts better"
    owner: crm
    review_status: approved
    status: running
    purpose: marketing
    control: statement
    variants:
      - {name: statement, attributes: {subject: "Picks"}}
      - {name: question, attributes: {subject: "Picks?"}}
    metric:
      match: {type: track, event: "Order Completed"}
      within_days: 7
      revenue: properties.revenue
    minimum_detectable_effect: 0.1
  - name: draft_test
    hypothesis: "Not reviewed yet"
    owner: crm
    review_status: draft
    status: running
    purpose: marketing
    control: a
    variants: [{name: a}, {name: b}]
    metric: {match: {type: track, event: "Order Completed"}, within_days: 7, count: once}
    minimum_detectable_effect: 0.1
  - name: repeat_buyers_only
    hypothesis: "Loyal customers like early access"
    owner: crm
    review_status: approved
    status: running
    purpose: marketing
    eligibility: {when: "coalesce(purchase_count, 0) >= 2"}
    control: a
    variants: [{name: a}, {name: b}]
    metric: {match: {type: track, event: "Order Completed"}, within_days: 7, count: once}
    minimum_detectable_effect: 0.1
"""


def experiment_rules(tmp_path: Path, text: str = EXPERIMENTS) -> Path:
    """A copy of the shipped rules whose experiments.yaml is ``text``."""
    target = tmp_path / "rules"
    shutil.copytree(SHIPPED, target)
    (target / "experiments.yaml").write_text(text, encoding="utf-8")
    return target


def opt_in(pipeline: Pipeline, user: str, *, marketing: bool = True,
           at: datetime = T - DAY, **purposes: bool) -> None:
    """The user's consent: marketing as given, email opted in, plus ``purposes``."""
    pipeline.record_consent(ConsentUpdate(
        user, at, "preference_center", purposes={"marketing": marketing, **purposes},
        channels={"email": True}))


def users_in(pipeline: Pipeline, experiment: str, arm: str, count: int,
             prefix: str = "user") -> list[str]:
    """The first ``count`` user ids that the keyed hash puts in ``arm``."""
    from cdp_plugin.experiments.assignment import assign

    chosen = pipeline.runtime.rules.experiments.get(experiment)
    assert chosen is not None
    found = []
    n = 0
    while len(found) < count:
        user = f"{prefix}-{n}@example.com"
        n += 1
        if assign(pipeline.runtime.pseudonymizer, chosen,
                  pipeline.runtime.pseudonymizer.subject(user)) == arm:
            found.append(user)
    return found
