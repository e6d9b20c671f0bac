"""The keyed-hash assignment: shares as configured, stable across processes, keyed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

import pytest

from cdp_plugin.experiments.assignment import arm_at, assign, assignment_point
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.rules.model import EventMatch
from cdp_plugin.rules.model.experiments import HOLDOUT, Experiment, Metric, Variant

KEY = bytes(range(32))
SUBJECTS = 100_000


def _experiment(holdout: float = 0.0, weights: tuple[float, ...] = (1.0, 1.0),
                salt: str = "") -> Experiment:
    return Experiment(
        name="split", hypothesis="h", owner="o", review_status="approved", status="running",
        purpose="marketing", variants=tuple(Variant(f"v{i}", w) for i, w in enumerate(weights)),
        control="v0", holdout=holdout,
        metric=Metric(EventMatch("track", "Order Completed"), 7, "once"),
        minimum_detectable_effect=0.1, start=datetime(2026, 1, 1, tzinfo=UTC), salt=salt)


def _shares(experiment: Experiment, pseudonymizer: Pseudonymizer) -> dict[str, float]:
    counts = Counter(assign(pseudonymizer, experiment, pseudonymizer.subject(f"user-{n}"))
                     for n in range(SUBJECTS))
    return {arm: count / SUBJECTS for arm, count in counts.items()}


def test_a_fifty_fifty_split_is_uniform_within_one_percent() -> None:
    shares = _shares(_experiment(), Pseudonymizer(KEY))
    assert set(shares) == {"v0", "v1"}
    assert all(abs(share - 0.5) < 0.01 for share in shares.values()), shares


def test_holdout_and_weights_get_their_shares() -> None:
    experiment = _experiment(holdout=0.1, weights=(3.0, 1.0))
    shares = _shares(experiment, Pseudonymizer(KEY))
    expected = experiment.expected_shares()
    assert expected == {"v0": 0.675, "v1": 0.225, HOLDOUT: 0.1}
    assert all(abs(shares[arm] - expected[arm]) < 0.01 for arm in expected), shares


def test_the_point_is_in_the_unit_interval_and_arms_follow_it() -> None:
    experiment = _experiment(holdout=0.2)
    assert arm_at(experiment, 0.0) == HOLDOUT
    assert arm_at(experiment, 0.1999) == HOLDOUT
    assert arm_at(experiment, 0.2001) == "v0"
    assert arm_at(experiment, 0.5999) == "v0"
    assert arm_at(experiment, 0.6001) == "v1"
    assert arm_at(experiment, 0.9999999999999999) == "v1"
    pseudonymizer = Pseudonymizer(KEY)
    points = [assignment_point(pseudonymizer, "s", f"s_{n}") for n in range(1000)]
    assert all(0.0 <= p < 1.0 for p in points) and len(set(points)) == 1000


def test_the_salt_and_the_key_reshuffle() -> None:
    subjects = [f"s_{n}" for n in range(2000)]
    base, other_salt = _experiment(), _experiment(salt="second run")
    pseudonymizer = Pseudonymizer(KEY)
    first = [assign(pseudonymizer, base, s) for s in subjects]
    assert first == [assign(Pseudonymizer(KEY), base, s) for s in subjects]  # no state
    salted = [assign(pseudonymizer, other_salt, s) for s in subjects]
    rekeyed = [assign(Pseudonymizer(bytes(32)), base, s) for s in subjects]
    for changed in (salted, rekeyed):
        agree = sum(a == b for a, b in zip(first, changed, strict=True)) / len(subjects)
        assert 0.4 < agree < 0.6  # independent of the first assignment


_CHILD = """
import json, sys
from datetime import UTC, datetime
from cdp_plugin.experiments.assignment import assign
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.rules.model import EventMatch
from cdp_plugin.rules.model.experiments import Experiment, Metric, Variant
experiment = Experiment(
    name="split", hypothesis="h", owner="o", review_status="approved", status="running",
    purpose="marketing", variants=(Variant("v0", 1.0), Variant("v1", 1.0)), control="v0",
    holdout=0.1, metric=Metric(EventMatch("track", "Order Completed"), 7, "once"),
    minimum_detectable_effect=0.1, start=datetime(2026, 1, 1, tzinfo=UTC))
p = Pseudonymizer(bytes(range(32)))
print(json.dumps([assign(p, experiment, p.subject(f"user-{n}")) for n in range(500)]))
"""


@pytest.mark.parametrize("hash_seed", ["0", "12345"])
def test_another_process_computes_the_same_assignments(hash_seed: str) -> None:
    experiment = _experiment(holdout=0.1)
    pseudonymizer = Pseudonymizer(KEY)
    here = [assign(pseudonymizer, experiment, pseudonymizer.subject(f"user-{n}"))
            for n in range(500)]
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": hash_seed, "PATH": ""})
    assert json.loads(child.stdout) == here
    assert set(here) == {"v0", "v1", HOLDOUT}
