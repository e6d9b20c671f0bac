"""SQLite store: the consent ledger and current state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import ConsentRecord, CurrentConsent, check_grants, dump_json
from cdp_plugin.storage.sql.consent import SQLConsent
from cdp_plugin.storage.sqlite.convert import from_micros, to_micros
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteConsent(SQLConsent, SQLiteCore):
    """The the consent ledger and current state of a SQLite store."""

    _APPEND = (
        "INSERT INTO consent_ledger (subject_key, source, captured_at, received_at, purposes, "
        "channels, topics, notice_version, proof) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    # The new row always has the highest seq, so ">=" already lets it win a tie.
    _UPSERT_CURRENT = (
        "INSERT INTO consent_current (subject_key, scope, name, granted, source, captured_at, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_key, scope, name) DO UPDATE SET "
        "granted = excluded.granted, source = excluded.source, "
        "captured_at = excluded.captured_at, seq = excluded.seq "
        "WHERE excluded.captured_at >= consent_current.captured_at"
    )
    _HISTORY = (
        "SELECT seq, subject_key, source, captured_at, received_at, purposes, channels, topics, "
        "notice_version, proof FROM consent_ledger WHERE subject_key = ? ORDER BY seq"
    )
    _CURRENT = (
        "SELECT c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, l.notice_version "
        "FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.subject_key = ? ORDER BY c.scope, c.name"
    )
    _CURRENT_MANY = (
        "SELECT c.subject_key, c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, "
        "l.notice_version FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.subject_key IN (KEYS) ORDER BY c.subject_key, c.scope, c.name"
    )
    _STALE = (
        "SELECT c.subject_key, c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, "
        "l.notice_version FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.captured_at < ? OR l.notice_version = ANY_NOTICES "
        "ORDER BY c.subject_key, c.scope, c.name"
    )

    def append_consent(self, record: ConsentRecord) -> ConsentRecord:
        op = "append_consent"
        captured_at = to_micros(record.captured_at, op, "captured_at")
        received_at = to_micros(record.received_at, op, "received_at")
        purposes = check_grants(record.purposes, op, "purposes")
        channels = check_grants(record.channels, op, "channels")
        topics = check_grants(record.topics, op, "topics")
        row = (
            record.subject_key, record.source, captured_at, received_at,
            dump_json(purposes, op, "purposes"), dump_json(channels, op, "channels"),
            dump_json(topics, op, "topics"),
            record.notice_version, dump_json(dict(record.proof), op, "proof"),
        )
        with self._scope(op, atomic=True):
            self._forget_consent_read(record.subject_key)
            seq = self._conn.execute(self._APPEND, row).lastrowid
            if seq is None:
                raise StorageError(f"{op} failed: no seq was assigned")
            self._conn.executemany(self._UPSERT_CURRENT, [
                (record.subject_key, scope, name, granted, record.source, captured_at, seq)
                for scope, grants in (("purpose", purposes), ("channel", channels),
                                      ("topic", topics))
                for name, granted in grants.items()
            ])
        return replace(record, seq=seq)

    def stale_consent(
        self, captured_before: datetime, superseded_notices: Sequence[str]
    ) -> Iterator[tuple[str, CurrentConsent]]:
        op = "stale_consent"
        before = to_micros(captured_before, op, "captured_before")
        notices = [str(n) for n in superseded_notices]
        marks = ", ".join("?" for _ in notices) or "NULL"
        query = self._STALE.replace("= ANY_NOTICES", f"IN ({marks})")
        params = (before, *notices)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(query, params).fetchall()
        for key, scope, name, granted, source, captured, seq, notice in rows:
            yield key, CurrentConsent(
                name=name, scope=scope, granted=bool(granted), source=source,
                captured_at=from_micros(captured), seq=seq, notice_version=notice,
            )
