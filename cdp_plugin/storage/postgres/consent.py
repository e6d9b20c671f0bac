"""PostgreSQL store: the consent ledger and current state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import ConsentRecord, CurrentConsent, as_utc, check_grants, dump_json
from cdp_plugin.storage.postgres.convert import utc
from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.consent import SQLConsent


class PostgresConsent(SQLConsent, PostgresCore):
    """The the consent ledger and current state of a PostgreSQL store."""

    _APPEND = (
        "INSERT INTO consent_ledger (subject_key, source, captured_at, received_at, purposes, "
        "channels, topics, notice_version, proof) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s, %s::jsonb) RETURNING seq"
    )
    # The new row always has the highest seq, so ">=" already lets it win a tie.
    _UPSERT_CURRENT = (
        "INSERT INTO consent_current (subject_key, scope, name, granted, source, captured_at, seq) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (subject_key, scope, name) DO UPDATE SET "
        "granted = excluded.granted, source = excluded.source, "
        "captured_at = excluded.captured_at, seq = excluded.seq "
        "WHERE excluded.captured_at >= consent_current.captured_at"
    )
    _HISTORY = (
        "SELECT seq, subject_key, source, captured_at, received_at, purposes, channels, topics, "
        "notice_version, proof FROM consent_ledger WHERE subject_key = %s ORDER BY seq"
    )
    _CURRENT = (
        "SELECT c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, l.notice_version "
        "FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.subject_key = %s ORDER BY c.scope, c.name"
    )
    _CURRENT_MANY = (
        "SELECT c.subject_key, c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, "
        "l.notice_version FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.subject_key = ANY(%s) ORDER BY c.subject_key, c.scope, c.name"
    )
    _STALE = (
        "SELECT c.subject_key, c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, "
        "l.notice_version FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
        "WHERE c.captured_at < %s OR l.notice_version = ANY_NOTICES "
        "ORDER BY c.subject_key, c.scope, c.name"
    )

    def append_consent(self, record: ConsentRecord) -> ConsentRecord:
        op = "append_consent"
        captured_at = as_utc(record.captured_at, op, "captured_at")
        received_at = as_utc(record.received_at, op, "received_at")
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
            fetched = self._conn.execute(self._APPEND, row).fetchone()
            if fetched is None:
                raise StorageError(f"{op} failed: no seq was assigned")
            seq: int = fetched[0]
            current = [
                (record.subject_key, scope, name, granted, record.source, captured_at, seq)
                for scope, grants in (("purpose", purposes), ("channel", channels),
                                      ("topic", topics))
                for name, granted in grants.items()
            ]
            if current:
                with self._conn.cursor() as cursor:
                    cursor.executemany(self._UPSERT_CURRENT, current)
        return replace(record, seq=seq)

    def stale_consent(
        self, captured_before: datetime, superseded_notices: Sequence[str]
    ) -> Iterator[tuple[str, CurrentConsent]]:
        op = "stale_consent"
        before = as_utc(captured_before, op, "captured_before")
        notices = [str(n) for n in superseded_notices]
        query = self._STALE.replace("ANY_NOTICES", "ANY(%s)")
        params = (before, notices)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(query, params).fetchall()
        for key, scope, name, granted, source, captured, seq, notice in rows:
            yield key, CurrentConsent(
                name=name, scope=scope, granted=granted, source=source,
                captured_at=utc(captured), seq=seq, notice_version=notice,
            )
