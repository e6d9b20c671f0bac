"""SQL store: the consent ledger and current state, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from cdp_plugin.storage.base import ConsentRecord, CurrentConsent
from cdp_plugin.storage.sql.core import CONSENT_READS, SQLCore, chunked


class SQLConsent(SQLCore):
    """The consent ledger and current state of a SQL store; a backend sets the statements
    and the writes and queries its dialect shapes differently."""

    _HISTORY: ClassVar[str]
    _CURRENT: ClassVar[str]
    _CURRENT_MANY: ClassVar[str]
    """``_CURRENT`` for many subjects (see ``_for_keys``), the subject key first,
    ordered by subject key, scope and name."""

    def consent_history(self, subject_key: str) -> list[ConsentRecord]:
        op = "consent_history"
        with self._scope(op, atomic=False):
            rows = self._conn.execute(self._HISTORY, (subject_key,)).fetchall()
        return [
            ConsentRecord(
                subject_key=key, source=source, captured_at=self._from_db_time(captured),
                received_at=self._from_db_time(received),
                purposes=self._from_db_json(purposes, op),
                channels=self._from_db_json(channels, op), topics=self._from_db_json(topics, op),
                notice_version=notice, proof=self._from_db_json(proof, op),
                seq=seq,
            )
            for seq, key, source, captured, received, purposes, channels, topics, notice, proof
            in rows
        ]

    def current_consent(self, subject_key: str) -> dict[tuple[str, str], CurrentConsent]:
        with self._scope("current_consent", atomic=False):
            known = self._read_ahead.get((CONSENT_READS, subject_key))
            if known is not None:
                return dict(known)
            rows = self._conn.execute(self._CURRENT, (subject_key,)).fetchall()
        return self._current_state(rows)

    def prefetch_consent(self, subject_keys: Iterable[str]) -> None:
        wanted = sorted({key for key in subject_keys
                         if (CONSENT_READS, key) not in self._read_ahead})
        if not self._in_transaction() or not wanted:
            return
        found: dict[str, list[tuple[Any, ...]]] = {key: [] for key in wanted}
        with self._scope("prefetch_consent", atomic=False):
            for chunk in chunked(wanted):
                statement, parameters = self._for_keys(self._CURRENT_MANY, chunk)
                for key, *row in self._conn.execute(statement, parameters).fetchall():
                    found[key].append(tuple(row))
        for key, rows in found.items():
            self._read_ahead[CONSENT_READS, key] = self._current_state(rows)

    def _forget_consent_read(self, subject_key: str) -> None:
        self._read_ahead.pop((CONSENT_READS, subject_key), None)

    def _current_state(self, rows: Iterable[Sequence[Any]]
                       ) -> dict[tuple[str, str], CurrentConsent]:
        # bool(): SQLite stores the grant as an integer.
        return {
            (scope, name): CurrentConsent(
                name=name, scope=scope, granted=bool(granted), source=source,
                captured_at=self._from_db_time(captured), seq=seq, notice_version=notice,
            )
            for scope, name, granted, source, captured, seq, notice in rows
        }
