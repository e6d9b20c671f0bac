"""The experiments part of the :class:`~cdp_plugin.storage.base.Store` contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime

from cdp_plugin.storage.records import ExperimentArm, ExperimentSubject


class ExperimentStore(ABC):
    """Per experiment and subject pseudonym: the arm, the first exposure, the
    conversion and the revenue (table ``experiment_subjects``, created on open).

    An assignment is written once and never changes (the first arm stays),
    so a subject keeps its arm whatever later calls or rule edits say.

    Every failure raises :class:`~cdp_plugin.errors.StorageError`.
    """

    @abstractmethod
    def experiment_assign(self, experiment: str, subject_key: str, arm: str,
                          at: datetime) -> bool:
        """Assign the subject to ``arm`` at ``at`` unless it already has an arm;
        return True if this call assigned it (False: the earlier arm stays).

        Raises StorageError on failure, including a naive ``at``.
        """

    @abstractmethod
    def experiment_subject(self, experiment: str, subject_key: str) -> ExperimentSubject | None:
        """The subject's row in the experiment, or None if it was never assigned.

        Raises StorageError on failure.
        """

    @abstractmethod
    def experiment_expose(self, experiment: str, subject_key: str, at: datetime) -> bool:
        """Record the subject's first exposure at ``at``; return True if this was
        its first (False: already exposed, or not assigned, and nothing changes).

        Raises StorageError on failure.
        """

    @abstractmethod
    def experiment_convert(self, experiment: str, subject_key: str, revenue: float,
                           at: datetime) -> bool:
        """Mark an exposed subject converted (``converted_at`` keeps the first
        time) and add ``revenue`` to its sum; return True if the row changed
        (False: not assigned or not exposed).

        Raises StorageError on failure, including a revenue that is not a
        finite number.
        """

    @abstractmethod
    def experiment_subjects_of(self, subject_key: str) -> list[ExperimentSubject]:
        """Every experiment row of the subject, by experiment name.

        Raises StorageError on failure.
        """

    @abstractmethod
    def experiment_delete(self, subject_keys: Sequence[str]) -> int:
        """Delete every experiment row of the subjects; return how many.

        Raises StorageError on failure.
        """

    @abstractmethod
    def experiment_arms(self, experiment: str) -> list[ExperimentArm]:
        """The experiment's totals per arm that has at least one subject, by arm name.

        Raises StorageError on failure.
        """
