"""SQL store: experiment assignments, exposures and conversions, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.storage.base import finite
from cdp_plugin.storage.records import ExperimentArm, ExperimentSubject
from cdp_plugin.storage.sql.core import SQLCore

EXPERIMENT_COLUMNS = (
    "experiment, subject_key, arm, assigned_at, first_exposed_at, converted, revenue, "
    "converted_at"
)


class SQLExperiments(SQLCore):
    """The experiment rows of a SQL store; a backend sets the statements."""

    _EXPERIMENT_ASSIGN: ClassVar[str]
    _EXPERIMENT_SUBJECT: ClassVar[str]
    _EXPERIMENT_EXPOSE: ClassVar[str]
    _EXPERIMENT_CONVERT: ClassVar[str]
    _EXPERIMENT_SUBJECTS_OF: ClassVar[str]
    _EXPERIMENT_DELETE: ClassVar[str]
    _EXPERIMENT_ARMS: ClassVar[str]

    def experiment_assign(self, experiment: str, subject_key: str, arm: str,
                          at: datetime) -> bool:
        when = self._to_db_time(at, "experiment_assign", "at")
        with self._scope("experiment_assign", atomic=False):
            cursor = self._conn.execute(self._EXPERIMENT_ASSIGN,
                                        (experiment, subject_key, arm, when))
            return cursor.rowcount == 1

    def experiment_subject(self, experiment: str, subject_key: str) -> ExperimentSubject | None:
        with self._scope("experiment_subject", atomic=False):
            row = self._conn.execute(self._EXPERIMENT_SUBJECT,
                                     (experiment, subject_key)).fetchone()
        return None if row is None else self._experiment_row(row)

    def experiment_expose(self, experiment: str, subject_key: str, at: datetime) -> bool:
        when = self._to_db_time(at, "experiment_expose", "at")
        with self._scope("experiment_expose", atomic=False):
            cursor = self._conn.execute(self._EXPERIMENT_EXPOSE, (when, experiment, subject_key))
            return cursor.rowcount == 1

    def experiment_convert(self, experiment: str, subject_key: str, revenue: float,
                           at: datetime) -> bool:
        op = "experiment_convert"
        amount = finite(revenue, op, "revenue")
        when = self._to_db_time(at, op, "at")
        with self._scope(op, atomic=False):
            cursor = self._conn.execute(self._EXPERIMENT_CONVERT,
                                        (amount, when, experiment, subject_key))
            return cursor.rowcount == 1

    def experiment_subjects_of(self, subject_key: str) -> list[ExperimentSubject]:
        with self._scope("experiment_subjects_of", atomic=False):
            rows = self._conn.execute(self._EXPERIMENT_SUBJECTS_OF, (subject_key,)).fetchall()
        return [self._experiment_row(row) for row in rows]

    def experiment_delete(self, subject_keys: Sequence[str]) -> int:
        deleted = 0
        with self._scope("experiment_delete", atomic=True):
            for key in sorted(set(subject_keys)):
                deleted += int(self._conn.execute(self._EXPERIMENT_DELETE, (key,)).rowcount)
        return deleted

    def experiment_arms(self, experiment: str) -> list[ExperimentArm]:
        with self._scope("experiment_arms", atomic=False):
            rows = self._conn.execute(self._EXPERIMENT_ARMS, (experiment,)).fetchall()
        return [ExperimentArm(str(arm), int(assigned), int(exposed or 0), int(converted or 0),
                              float(total or 0.0), float(squares or 0.0))
                for arm, assigned, exposed, converted, total, squares in rows]

    def _experiment_row(self, row: tuple[Any, ...]) -> ExperimentSubject:
        experiment, subject_key, arm, assigned, exposed, converted, revenue, converted_at = row
        return ExperimentSubject(
            experiment=experiment, subject_key=subject_key, arm=arm,
            assigned_at=self._from_db_time(assigned),
            first_exposed_at=None if exposed is None else self._from_db_time(exposed),
            converted=bool(converted), revenue=float(revenue),
            converted_at=None if converted_at is None else self._from_db_time(converted_at))
