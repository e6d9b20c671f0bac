"""Records of experiments: a subject assigned to an arm, exposed to a send (or,
in the holdout, to the send withheld), and converting.

Subjects appear only by pseudonym and messages by their keyed stand-ins;
the revenue amount attributed to a conversion is no personal data and is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cdp_plugin.audit.records.base import AuditRecord


@dataclass(frozen=True, slots=True)
class ExperimentAssigned(AuditRecord):
    """Proves the subject was placed in ``arm`` (a variant or ``holdout``) of the
    experiment, once, the first time the gate asked about it with consent to the
    experiment's purpose; ``rules_version`` is the rule set that defined it."""

    kind: ClassVar[str] = "experiment.assigned"
    experiment: str
    subject: str
    arm: str
    rules_version: str


@dataclass(frozen=True, slots=True)
class ExperimentExposed(AuditRecord):
    """Proves the subject's first exposure: the first send the gate allowed for the
    experiment on ``channel``, or for a holdout subject the first send it
    withheld (``counterfactual``), so holdout and variants count alike."""

    kind: ClassVar[str] = "experiment.exposed"
    experiment: str
    subject: str
    arm: str
    channel: str
    counterfactual: bool


@dataclass(frozen=True, slots=True)
class ExperimentConverted(AuditRecord):
    """Proves an event (``message``: its keyed stand-in) was attributed to the
    experiment as a conversion of an exposed subject, within the metric's window
    and allowed for the experiment's purpose; ``revenue`` is the amount added
    (None for a ``count: once`` metric)."""

    kind: ClassVar[str] = "experiment.converted"
    experiment: str
    subject: str
    arm: str
    message: str
    revenue: float | None
