"""SQL store: the consent ledger and current state, shared by the SQL backends."""

from __future__ import annotations

from typing import ClassVar

from cdp_plugin.storage.base import ConsentRecord, CurrentConsent
from cdp_plugin.storage.sql.core import SQLCore


class SQLConsent(SQLCore):
    """The consent ledger and current state of a SQL store; a backend sets the statements
    and the writes and queries its dialect shapes differently."""

    _HISTORY: ClassVar[str]
    _CURRENT: ClassVar[str]

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
            rows = self._conn.execute(self._CURRENT, (subject_key,)).fetchall()
        # bool(): SQLite stores the grant as an integer.
        return {
            (scope, name): CurrentConsent(
                name=name, scope=scope, granted=bool(granted), source=source,
                captured_at=self._from_db_time(captured), seq=seq, notice_version=notice,
            )
            for scope, name, granted, source, captured, seq, notice in rows
        }
