"""SQLite store: experiment assignments, exposures and conversions."""

from __future__ import annotations

from cdp_plugin.storage.sql.experiments import EXPERIMENT_COLUMNS, SQLExperiments
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteExperiments(SQLExperiments, SQLiteCore):
    """The experiment rows of a SQLite store."""

    _EXPERIMENT_ASSIGN = (
        "INSERT INTO experiment_subjects (experiment, subject_key, arm, assigned_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (experiment, subject_key) DO NOTHING"
    )
    _EXPERIMENT_SUBJECT = (
        f"SELECT {EXPERIMENT_COLUMNS} FROM experiment_subjects "
        "WHERE experiment = ? AND subject_key = ?"
    )
    _EXPERIMENT_EXPOSE = (
        "UPDATE experiment_subjects SET first_exposed_at = ? "
        "WHERE experiment = ? AND subject_key = ? AND first_exposed_at IS NULL"
    )
    _EXPERIMENT_CONVERT = (
        "UPDATE experiment_subjects SET converted = 1, revenue = revenue + ?, "
        "converted_at = coalesce(converted_at, ?) "
        "WHERE experiment = ? AND subject_key = ? AND first_exposed_at IS NOT NULL"
    )
    _EXPERIMENT_SUBJECTS_OF = (
        f"SELECT {EXPERIMENT_COLUMNS} FROM experiment_subjects WHERE subject_key = ? "
        "ORDER BY experiment"
    )
    _EXPERIMENT_DELETE = "DELETE FROM experiment_subjects WHERE subject_key = ?"
    _EXPERIMENT_ARMS = (
        "SELECT arm, count(*), "
        "sum(CASE WHEN first_exposed_at IS NOT NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN first_exposed_at IS NOT NULL AND converted THEN 1 ELSE 0 END), "
        "sum(CASE WHEN first_exposed_at IS NOT NULL THEN revenue ELSE 0 END), "
        "sum(CASE WHEN first_exposed_at IS NOT NULL THEN revenue * revenue ELSE 0 END) "
        "FROM experiment_subjects WHERE experiment = ? GROUP BY arm ORDER BY arm"
    )
