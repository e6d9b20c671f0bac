"""A store in PostgreSQL, through psycopg 3.

Same tables and semantics as the SQLite store, in native types: ``timestamptz``
for datetimes, ``jsonb`` for mappings, ``bytea`` for keys. The connection runs
in autocommit mode with explicit ``BEGIN``/``COMMIT`` so a single statement
costs one round trip; psycopg prepares statements that repeat.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql

from cdp_plugin.errors import StorageError
from cdp_plugin.storage.base import (
    OPTIN_STATUSES,
    OUTBOX_STATUSES,
    SCHEMA_VERSION,
    ConsentRecord,
    CurrentConsent,
    OptInRequest,
    OutboxNotice,
    QuarantinedEvent,
    SegmentDay,
    SingleConnectionStore,
    Tally,
    Tombstone,
    as_utc,
    check_grants,
    check_status,
    dump_json,
    finite,
)

_CONNECT_TIMEOUT_S = 10
# Serializes schema creation between processes opening the same database.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('cdp_plugin.storage.schema'))"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS seen_messages (
        message_id text PRIMARY KEY,
        seen_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS seen_messages_seen_at ON seen_messages (seen_at)",
    """CREATE TABLE IF NOT EXISTS consent_ledger (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subject_key text NOT NULL,
        source text NOT NULL,
        captured_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        purposes jsonb NOT NULL,
        channels jsonb NOT NULL,
        topics jsonb NOT NULL,
        notice_version text,
        proof jsonb NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS consent_ledger_subject ON consent_ledger (subject_key, seq)",
    """CREATE TABLE IF NOT EXISTS consent_current (
        subject_key text NOT NULL,
        scope text NOT NULL CHECK (scope IN ('purpose', 'channel', 'topic')),
        name text NOT NULL,
        granted boolean NOT NULL,
        source text NOT NULL,
        captured_at timestamptz NOT NULL,
        seq bigint NOT NULL REFERENCES consent_ledger (seq),
        PRIMARY KEY (subject_key, scope, name)
    )""",
    # COLLATE "C" orders by code point, as SQLite and Python do, whatever the
    # database's locale.
    """CREATE TABLE IF NOT EXISTS profiles (
        subject_key text COLLATE "C" PRIMARY KEY,
        data jsonb NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subject_key text NOT NULL,
        message_id text NOT NULL,
        payload text NOT NULL,
        received_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS quarantine_subject ON quarantine (subject_key, id)",
    "CREATE INDEX IF NOT EXISTS quarantine_expires ON quarantine (expires_at)",
    """CREATE TABLE IF NOT EXISTS subject_keys (
        subject_key text NOT NULL,
        key_id text NOT NULL,
        wrapped_key bytea NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (subject_key, key_id)
    )""",
    """CREATE TABLE IF NOT EXISTS sends (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subject_key text NOT NULL,
        channel text NOT NULL,
        topic text,
        sent_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sends_subject ON sends (subject_key, channel, sent_at)",
    # Preference-center callbacks: webhook replay protection, the notice
    # outbox, erasure tombstones and double opt-in requests.
    """CREATE TABLE IF NOT EXISTS webhook_ids (
        webhook_id text PRIMARY KEY,
        digest text NOT NULL,
        seen_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_ids_seen_at ON webhook_ids (seen_at)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        idempotency_key text NOT NULL UNIQUE,
        destination text NOT NULL,
        kind text NOT NULL,
        subject_key text NOT NULL,
        payload text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_error text
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at, id)",
    "CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (subject_key, id)",
    """CREATE TABLE IF NOT EXISTS tombstones (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subject_key text NOT NULL,
        erased_at timestamptz NOT NULL,
        proof jsonb NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tombstones_subject ON tombstones (subject_key, id)",
    """CREATE TABLE IF NOT EXISTS optin_requests (
        token_id text PRIMARY KEY,
        subject_key text NOT NULL,
        channel text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
        captured_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        details jsonb NOT NULL,
        settled_at timestamptz
    )""",
    "CREATE INDEX IF NOT EXISTS optin_requests_subject ON optin_requests (subject_key, channel)",
    # Segments: running tallies (cohort aggregates), current sizes and daily churn.
    """CREATE TABLE IF NOT EXISTS tallies (
        name text COLLATE "C" PRIMARY KEY,
        count bigint NOT NULL,
        total double precision NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segment_sizes (
        segment text COLLATE "C" PRIMARY KEY,
        size bigint NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segment_stats (
        segment text COLLATE "C" NOT NULL,
        day date NOT NULL,
        size bigint NOT NULL,
        entered bigint NOT NULL,
        exited bigint NOT NULL,
        PRIMARY KEY (segment, day)
    )""",
)

_CREATE_META = "CREATE TABLE IF NOT EXISTS meta (name text PRIMARY KEY, value text NOT NULL)"
_GET_META = "SELECT value FROM meta WHERE name = %s"
_SET_META = (
    "INSERT INTO meta (name, value) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
_REMEMBER = (
    "INSERT INTO seen_messages (message_id, seen_at) VALUES (%s, %s) "
    "ON CONFLICT (message_id) DO NOTHING"
)
_FORGET = "DELETE FROM seen_messages WHERE seen_at < %s"
_FORGET_ONE = "DELETE FROM seen_messages WHERE message_id = %s"
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
_STALE = (
    "SELECT c.subject_key, c.scope, c.name, c.granted, c.source, c.captured_at, c.seq, "
    "l.notice_version FROM consent_current c JOIN consent_ledger l ON l.seq = c.seq "
    "WHERE c.captured_at < %s OR l.notice_version = ANY_NOTICES "
    "ORDER BY c.subject_key, c.scope, c.name"
)
_GET_PROFILE = "SELECT data FROM profiles WHERE subject_key = %s"
_PUT_PROFILE = (
    "INSERT INTO profiles (subject_key, data, updated_at) VALUES (%s, %s::jsonb, %s) "
    "ON CONFLICT (subject_key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"
)
_DELETE_PROFILE = "DELETE FROM profiles WHERE subject_key = %s"
_FIRST_PROFILES = "SELECT subject_key, data FROM profiles ORDER BY subject_key LIMIT %s"
_NEXT_PROFILES = (
    "SELECT subject_key, data FROM profiles WHERE subject_key > %s ORDER BY subject_key LIMIT %s"
)
_QUARANTINE_ADD = (
    "INSERT INTO quarantine (subject_key, message_id, payload, received_at, expires_at) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
_QUARANTINE_COLUMNS = "id, subject_key, message_id, payload, received_at, expires_at"
_QUARANTINE_LIST = (
    f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine WHERE subject_key = %s ORDER BY id"
)
_QUARANTINE_COUNT = "SELECT count(*) FROM quarantine WHERE subject_key = %s"
_QUARANTINE_REMOVE = "DELETE FROM quarantine WHERE id = ANY(%s)"
_QUARANTINE_EXPIRED = (
    f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine WHERE expires_at <= %s ORDER BY id"
)
_PUT_KEY = (
    "INSERT INTO subject_keys (subject_key, key_id, wrapped_key, created_at) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (subject_key, key_id) DO NOTHING"
)
_GET_KEY = "SELECT wrapped_key FROM subject_keys WHERE subject_key = %s AND key_id = %s"
_GET_KEYS = (
    "SELECT key_id, wrapped_key FROM subject_keys WHERE subject_key = %s "
    "ORDER BY created_at, key_id"
)
_DELETE_KEYS = "DELETE FROM subject_keys WHERE subject_key = %s"
_PAGE_KEYS = (
    "SELECT subject_key, key_id, wrapped_key FROM subject_keys "
    "WHERE (subject_key, key_id) > (%s, %s) ORDER BY subject_key, key_id LIMIT %s"
)
_RECORD_SEND = (
    "INSERT INTO sends (subject_key, channel, topic, sent_at) VALUES (%s, %s, %s, %s)"
)
# Held until the transaction ends, so two connections cannot both count the
# same sends of one subject and channel and then both send (a no-op outside one).
_LOCK_SENDS = (
    "SELECT pg_advisory_xact_lock(hashtext('cdp_plugin.storage.sends'), hashtext(%s))"
)
_SENDS_SINCE = (
    "SELECT sent_at FROM sends WHERE subject_key = %s AND channel = %s AND sent_at > %s "
    "ORDER BY sent_at"
)
_DELETE_SENDS = "DELETE FROM sends WHERE subject_key = %s"
_QUARANTINE_RECEIVED_BEFORE = (
    f"SELECT {_QUARANTINE_COLUMNS} FROM quarantine WHERE received_at < %s ORDER BY id"
)
_DELETE_PROFILES_BEFORE = "DELETE FROM profiles WHERE updated_at < %s"
_DROP_PROFILE_FIELDS = (
    "UPDATE profiles SET data = data - %s::text[] "
    "WHERE updated_at < %s AND jsonb_exists_any(data, %s::text[])"
)
_BLANK_PROOFS = (
    "UPDATE consent_ledger SET proof = '{}'::jsonb WHERE captured_at < %s "
    "AND proof <> '{}'::jsonb AND seq NOT IN (SELECT seq FROM consent_current)"
)
_DELETE_SENDS_BEFORE = "DELETE FROM sends WHERE sent_at < %s"
_REMEMBER_WEBHOOK = (
    "INSERT INTO webhook_ids (webhook_id, digest, seen_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (webhook_id) DO NOTHING"
)
_WEBHOOK_DIGEST = "SELECT digest FROM webhook_ids WHERE webhook_id = %s"
_FORGET_WEBHOOKS = "DELETE FROM webhook_ids WHERE seen_at < %s"
_OUTBOX_ADD = (
    "INSERT INTO outbox (idempotency_key, destination, kind, subject_key, payload, status, "
    "attempts, next_attempt_at, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_OUTBOX_COLUMNS = (
    "id, idempotency_key, destination, kind, subject_key, payload, status, attempts, "
    "next_attempt_at, created_at, updated_at, last_error"
)
# SKIP LOCKED: connections leasing at once take disjoint notices.
_OUTBOX_LEASE = (
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s, updated_at = %s "
    "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= %s "
    "ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
    f"RETURNING {_OUTBOX_COLUMNS}"
)
_OUTBOX_SETTLE = (
    "UPDATE outbox SET status = %s, next_attempt_at = %s, last_error = %s, updated_at = %s "
    "WHERE id = %s AND attempts = %s AND status = 'pending'"
)
_OUTBOX_NEXT_DUE = "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'"
_OUTBOX_LIST = (
    f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE (%s::text IS NULL OR subject_key = %s) "
    "AND (%s::text IS NULL OR status = %s) ORDER BY id"
)
_ADD_TOMBSTONE = (
    "INSERT INTO tombstones (subject_key, erased_at, proof) VALUES (%s, %s, %s::jsonb) "
    "RETURNING id"
)
_TOMBSTONES = (
    "SELECT id, subject_key, erased_at, proof FROM tombstones WHERE subject_key = %s ORDER BY id"
)
_OPTIN_COLUMNS = (
    "token_id, subject_key, channel, status, captured_at, expires_at, details, settled_at"
)
_OPTIN_ADD = (
    "INSERT INTO optin_requests (token_id, subject_key, channel, status, captured_at, "
    "expires_at, details) VALUES (%s, %s, %s, 'pending', %s, %s, %s::jsonb)"
)
_OPTIN_GET = f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE token_id = %s"
_OPTIN_SETTLE = (
    "UPDATE optin_requests SET status = %s, settled_at = %s "
    "WHERE token_id = %s AND status = 'pending'"
)
_OPTIN_CANCEL = (
    "UPDATE optin_requests SET status = 'cancelled', settled_at = %s WHERE subject_key = %s "
    "AND channel = %s AND status = 'pending' AND captured_at <= %s"
)
_OPTIN_LIST = (
    f"SELECT {_OPTIN_COLUMNS} FROM optin_requests WHERE subject_key = %s "
    "ORDER BY captured_at, token_id"
)
_OPTIN_DELETE = "DELETE FROM optin_requests WHERE subject_key = %s"
# The tables whose rows hold a subject's data; VACUUM makes their dead rows' space reusable.
_SCRUB_TABLES = ("quarantine", "profiles", "sends", "subject_keys", "optin_requests")


_ADD_TALLY = (
    "INSERT INTO tallies (name, count, total) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
    "SET count = tallies.count + excluded.count, total = tallies.total + excluded.total "
    "RETURNING count, total"
)
_GET_TALLY = "SELECT count, total FROM tallies WHERE name = %s"
_ADD_SEGMENT_SIZE = (
    "INSERT INTO segment_sizes (segment, size) VALUES (%s, %s) ON CONFLICT (segment) DO UPDATE "
    "SET size = segment_sizes.size + excluded.size RETURNING size"
)
_SEGMENT_SIZES = "SELECT segment, size FROM segment_sizes ORDER BY segment"
_COUNT_SEGMENT_DAY = (
    "INSERT INTO segment_stats (segment, day, size, entered, exited) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (segment, day) DO UPDATE SET size = excluded.size, "
    "entered = segment_stats.entered + excluded.entered, "
    "exited = segment_stats.exited + excluded.exited"
)
_SEGMENT_DAYS = (
    "SELECT segment, day, size, entered, exited FROM segment_stats "
    "WHERE %s::date IS NULL OR day >= %s ORDER BY segment, day"
)

def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresStore(SingleConnectionStore):
    """A :class:`Store` in PostgreSQL, safe to share between threads.

    ``schema``, if given, is created when missing and used for every table
    (through the connection's search_path); otherwise the DSN's default
    applies. Opening creates the tables as needed. Raises StorageError if the
    server cannot be reached (the DSN is never quoted: it may hold a
    password), the schema cannot be created, or it holds another schema version.
    """

    page_size: int = 500
    """Profiles fetched per page by :meth:`iter_profiles`."""

    _driver_errors = (psycopg.Error,)

    def __init__(self, dsn: str, schema: str | None = None) -> None:
        super().__init__()
        self.schema = schema
        options: dict[str, Any] = {}
        if "connect_timeout" not in dsn:
            options["connect_timeout"] = _CONNECT_TIMEOUT_S
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, **options)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from None
        try:
            self._conn.execute("SET TIME ZONE 'UTC'")
            self._create_schema()
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, psycopg.Error):
                raise StorageError(
                    f"cannot open the PostgreSQL store: {self._describe(exc)}"
                ) from None
            raise

    def _create_schema(self) -> None:
        with self._scope("open", atomic=True):
            self._conn.execute(_SCHEMA_LOCK)
            if self.schema is not None:
                name = sql.Identifier(self.schema)
                self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                # A plain SET outlives this transaction once it commits.
                self._conn.execute(sql.SQL("SET search_path TO {}").format(name))
            self._conn.execute(_CREATE_META)
            row = self._conn.execute(_GET_META, ("schema_version",)).fetchone()
            if row is None:
                self._conn.execute(_SET_META, ("schema_version", SCHEMA_VERSION))
            elif row[0] != SCHEMA_VERSION:
                raise StorageError(
                    f"PostgreSQL store has schema version {row[0]!r}, expected {SCHEMA_VERSION!r}"
                )
            for statement in _SCHEMA:
                self._conn.execute(statement)

    def _control(self, statement: str) -> None:
        self._conn.execute(statement)

    def _close_connection(self) -> None:
        self._conn.close()

    def _describe(self, exc: BaseException) -> str:
        # The message may quote row values (a DETAIL line); the SQLSTATE does not.
        state = getattr(exc, "sqlstate", None)
        return f"{type(exc).__name__} (SQLSTATE {state})" if state else type(exc).__name__

    def remember_message(self, message_id: str, seen_at: datetime) -> bool:
        at = as_utc(seen_at, "remember_message", "seen_at")
        with self._scope("remember_message", atomic=False):
            return self._conn.execute(_REMEMBER, (message_id, at)).rowcount == 1

    def forget_message(self, message_id: str) -> bool:
        with self._scope("forget_message", atomic=False):
            return self._conn.execute(_FORGET_ONE, (message_id,)).rowcount > 0

    def forget_messages_before(self, before: datetime) -> int:
        at = as_utc(before, "forget_messages_before", "before")
        with self._scope("forget_messages_before", atomic=False):
            return self._conn.execute(_FORGET, (at,)).rowcount

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
            fetched = self._conn.execute(_APPEND, row).fetchone()
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
                    cursor.executemany(_UPSERT_CURRENT, current)
        return replace(record, seq=seq)

    def consent_history(self, subject_key: str) -> list[ConsentRecord]:
        with self._scope("consent_history", atomic=False):
            rows = self._conn.execute(_HISTORY, (subject_key,)).fetchall()
        return [
            ConsentRecord(
                subject_key=key, source=source, captured_at=_utc(captured),
                received_at=_utc(received), purposes=purposes, channels=channels, topics=topics,
                notice_version=notice, proof=proof, seq=seq,
            )
            for seq, key, source, captured, received, purposes, channels, topics, notice, proof
            in rows
        ]

    def current_consent(self, subject_key: str) -> dict[tuple[str, str], CurrentConsent]:
        with self._scope("current_consent", atomic=False):
            rows = self._conn.execute(_CURRENT, (subject_key,)).fetchall()
        return {
            (scope, name): CurrentConsent(
                name=name, scope=scope, granted=granted, source=source,
                captured_at=_utc(captured), seq=seq, notice_version=notice,
            )
            for scope, name, granted, source, captured, seq, notice in rows
        }

    def stale_consent(
        self, captured_before: datetime, superseded_notices: Sequence[str]
    ) -> Iterator[tuple[str, CurrentConsent]]:
        op = "stale_consent"
        before = as_utc(captured_before, op, "captured_before")
        notices = [str(n) for n in superseded_notices]
        query = _STALE.replace("ANY_NOTICES", "ANY(%s)")
        params = (before, notices)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(query, params).fetchall()
        for key, scope, name, granted, source, captured, seq, notice in rows:
            yield key, CurrentConsent(
                name=name, scope=scope, granted=granted, source=source,
                captured_at=_utc(captured), seq=seq, notice_version=notice,
            )

    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        with self._scope("get_profile", atomic=False):
            row = self._conn.execute(_GET_PROFILE, (subject_key,)).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = row[0]
        return data

    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        op = "put_profile"
        if not isinstance(data, Mapping):
            raise StorageError(f"{op} failed: data must be a mapping")
        text = dump_json(dict(data), op, "data")
        at = as_utc(updated_at, op, "updated_at")
        with self._scope(op, atomic=False):
            self._conn.execute(_PUT_PROFILE, (subject_key, text, at))

    def delete_profile(self, subject_key: str) -> bool:
        with self._scope("delete_profile", atomic=False):
            return self._conn.execute(_DELETE_PROFILE, (subject_key,)).rowcount > 0

    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        op = "iter_profiles"
        size = self.page_size
        last: str | None = None
        while True:
            # The lock is held per page only, so the caller may use the store
            # between pages.
            with self._scope(op, atomic=False):
                if last is None:
                    rows = self._conn.execute(_FIRST_PROFILES, (size,)).fetchall()
                else:
                    rows = self._conn.execute(_NEXT_PROFILES, (last, size)).fetchall()
            yield from rows
            if len(rows) < size:
                return
            last = rows[-1][0]

    def quarantine_add(
        self,
        subject_key: str,
        message_id: str,
        payload: str,
        received_at: datetime,
        expires_at: datetime,
    ) -> int:
        op = "quarantine_add"
        row = (
            subject_key, message_id, payload,
            as_utc(received_at, op, "received_at"), as_utc(expires_at, op, "expires_at"),
        )
        with self._scope(op, atomic=False):
            fetched = self._conn.execute(_QUARANTINE_ADD, row).fetchone()
        if fetched is None:
            raise StorageError(f"{op} failed: no id was assigned")
        new_id: int = fetched[0]
        return new_id

    def quarantine_list(self, subject_key: str) -> list[QuarantinedEvent]:
        with self._scope("quarantine_list", atomic=False):
            rows = self._conn.execute(_QUARANTINE_LIST, (subject_key,)).fetchall()
        return [_quarantined(row) for row in rows]

    def quarantine_count(self, subject_key: str) -> int:
        with self._scope("quarantine_count", atomic=False):
            row = self._conn.execute(_QUARANTINE_COUNT, (subject_key,)).fetchone()
        return 0 if row is None else int(row[0])

    def quarantine_remove(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        with self._scope("quarantine_remove", atomic=False):
            return self._conn.execute(_QUARANTINE_REMOVE, (list(ids),)).rowcount

    def quarantine_expired(self, now: datetime) -> list[QuarantinedEvent]:
        at = as_utc(now, "quarantine_expired", "now")
        with self._scope("quarantine_expired", atomic=False):
            rows = self._conn.execute(_QUARANTINE_EXPIRED, (at,)).fetchall()
        return [_quarantined(row) for row in rows]

    def put_key(
        self, subject_key: str, key_id: str, wrapped_key: bytes, created_at: datetime
    ) -> None:
        op = "put_key"
        key = bytes(wrapped_key)
        at = as_utc(created_at, op, "created_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(_PUT_KEY, (subject_key, key_id, key, at)).rowcount == 1:
                return
            row = self._conn.execute(_GET_KEY, (subject_key, key_id)).fetchone()
            if row is None or bytes(row[0]) != key:
                raise StorageError(f"{op} failed: a different key is stored under this key id")

    def get_keys(self, subject_key: str) -> dict[str, bytes]:
        with self._scope("get_keys", atomic=False):
            rows = self._conn.execute(_GET_KEYS, (subject_key,)).fetchall()
        return {key_id: bytes(key) for key_id, key in rows}

    def iter_keys(self) -> Iterator[tuple[str, str, bytes]]:
        after = ("", "")
        while True:
            # The lock is held per page only, so the caller may write between pages.
            with self._scope("iter_keys", atomic=False):
                rows = self._conn.execute(_PAGE_KEYS, (*after, self.page_size)).fetchall()
            for subject_key, key_id, wrapped in rows:
                yield subject_key, key_id, bytes(wrapped)
            if len(rows) < self.page_size:
                return
            after = (rows[-1][0], rows[-1][1])

    def delete_keys(self, subject_key: str) -> int:
        with self._scope("delete_keys", atomic=False):
            return self._conn.execute(_DELETE_KEYS, (subject_key,)).rowcount

    def record_send(
        self, subject_key: str, channel: str, topic: str | None, sent_at: datetime
    ) -> None:
        at = as_utc(sent_at, "record_send", "sent_at")
        with self._scope("record_send", atomic=False):
            self._conn.execute(_RECORD_SEND, (subject_key, channel, topic, at))

    def sends_since(self, subject_key: str, channel: str, since: datetime) -> list[datetime]:
        after = as_utc(since, "sends_since", "since")
        with self._scope("sends_since", atomic=False):
            self._conn.execute(_LOCK_SENDS, (f"{subject_key}/{channel}",))
            rows = self._conn.execute(_SENDS_SINCE, (subject_key, channel, after)).fetchall()
        return [_utc(sent) for (sent,) in rows]

    def delete_sends(self, subject_key: str) -> int:
        with self._scope("delete_sends", atomic=False):
            return self._conn.execute(_DELETE_SENDS, (subject_key,)).rowcount

    def quarantine_received_before(self, before: datetime) -> list[QuarantinedEvent]:
        at = as_utc(before, "quarantine_received_before", "before")
        with self._scope("quarantine_received_before", atomic=False):
            rows = self._conn.execute(_QUARANTINE_RECEIVED_BEFORE, (at,)).fetchall()
        return [_quarantined(row) for row in rows]

    def delete_profiles_before(self, updated_before: datetime) -> int:
        at = as_utc(updated_before, "delete_profiles_before", "updated_before")
        with self._scope("delete_profiles_before", atomic=False):
            return self._conn.execute(_DELETE_PROFILES_BEFORE, (at,)).rowcount

    def drop_profile_fields_before(self, updated_before: datetime, names: Sequence[str]) -> int:
        op = "drop_profile_fields_before"
        at = as_utc(updated_before, op, "updated_before")
        keys = list(names)
        if any('"' in key for key in keys):
            raise StorageError(f"{op} failed: a field name must not contain a double quote")
        if not keys:
            return 0
        with self._scope(op, atomic=False):
            return self._conn.execute(_DROP_PROFILE_FIELDS, (keys, at, keys)).rowcount

    def blank_consent_proofs(self, captured_before: datetime) -> int:
        at = as_utc(captured_before, "blank_consent_proofs", "captured_before")
        with self._scope("blank_consent_proofs", atomic=False):
            return self._conn.execute(_BLANK_PROOFS, (at,)).rowcount

    def delete_sends_before(self, before: datetime) -> int:
        at = as_utc(before, "delete_sends_before", "before")
        with self._scope("delete_sends_before", atomic=False):
            return self._conn.execute(_DELETE_SENDS_BEFORE, (at,)).rowcount

    def get_meta(self, name: str) -> str | None:
        with self._scope("get_meta", atomic=False):
            row = self._conn.execute(_GET_META, (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._scope("set_meta", atomic=False):
            self._conn.execute(_SET_META, (name, value))

    # --- preference-center callbacks -------------------------------------------------

    def remember_webhook(self, webhook_id: str, digest: str, seen_at: datetime) -> str | None:
        op = "remember_webhook"
        at = as_utc(seen_at, op, "seen_at")
        with self._scope(op, atomic=True):
            if self._conn.execute(_REMEMBER_WEBHOOK, (webhook_id, digest, at)).rowcount == 1:
                return None
            row = self._conn.execute(_WEBHOOK_DIGEST, (webhook_id,)).fetchone()
        return None if row is None else str(row[0])

    def forget_webhooks_before(self, before: datetime) -> int:
        at = as_utc(before, "forget_webhooks_before", "before")
        with self._scope("forget_webhooks_before", atomic=False):
            return self._conn.execute(_FORGET_WEBHOOKS, (at,)).rowcount

    def outbox_add(self, idempotency_key: str, destination: str, kind: str, subject_key: str,
                   payload: str, created_at: datetime) -> bool:
        at = as_utc(created_at, "outbox_add", "created_at")
        row = (idempotency_key, destination, kind, subject_key, payload, at, at, at)
        with self._scope("outbox_add", atomic=False):
            return self._conn.execute(_OUTBOX_ADD, row).rowcount == 1

    def outbox_lease(self, now: datetime, lease_until: datetime,
                     limit: int) -> list[OutboxNotice]:
        op = "outbox_lease"
        params = (as_utc(lease_until, op, "lease_until"), as_utc(now, op, "now"),
                  as_utc(now, op, "now"), limit)
        with self._scope(op, atomic=False):
            rows = self._conn.execute(_OUTBOX_LEASE, params).fetchall()
        return sorted((_notice(row) for row in rows), key=lambda notice: notice.id)

    def outbox_settle(self, notice_id: int, attempts: int, status: str,
                      next_attempt_at: datetime, last_error: str | None,
                      at: datetime) -> bool:
        op = "outbox_settle"
        check_status(status, OUTBOX_STATUSES, op)
        params = (status, as_utc(next_attempt_at, op, "next_attempt_at"), last_error,
                  as_utc(at, op, "at"), notice_id, attempts)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OUTBOX_SETTLE, params).rowcount == 1

    def outbox_next_due(self) -> datetime | None:
        with self._scope("outbox_next_due", atomic=False):
            row = self._conn.execute(_OUTBOX_NEXT_DUE).fetchone()
        return None if row is None or row[0] is None else _utc(row[0])

    def outbox_list(self, subject_key: str | None = None,
                    status: str | None = None) -> list[OutboxNotice]:
        params = (subject_key, subject_key, status, status)
        with self._scope("outbox_list", atomic=False):
            rows = self._conn.execute(_OUTBOX_LIST, params).fetchall()
        return [_notice(row) for row in rows]

    def add_tombstone(self, subject_key: str, erased_at: datetime,
                      proof: Mapping[str, Any]) -> int:
        op = "add_tombstone"
        row = (subject_key, as_utc(erased_at, op, "erased_at"),
               dump_json(dict(proof), op, "proof"))
        with self._scope(op, atomic=False):
            fetched = self._conn.execute(_ADD_TOMBSTONE, row).fetchone()
        if fetched is None:
            raise StorageError(f"{op} failed: no id was assigned")
        new_id: int = fetched[0]
        return new_id

    def tombstones(self, subject_key: str) -> list[Tombstone]:
        with self._scope("tombstones", atomic=False):
            rows = self._conn.execute(_TOMBSTONES, (subject_key,)).fetchall()
        return [Tombstone(id=row_id, subject_key=key, erased_at=_utc(erased), proof=proof)
                for row_id, key, erased, proof in rows]

    def optin_add(self, token_id: str, subject_key: str, channel: str, captured_at: datetime,
                  expires_at: datetime, details: Mapping[str, Any]) -> None:
        op = "optin_add"
        row = (token_id, subject_key, channel, as_utc(captured_at, op, "captured_at"),
               as_utc(expires_at, op, "expires_at"), dump_json(dict(details), op, "details"))
        with self._scope(op, atomic=False):
            self._conn.execute(_OPTIN_ADD, row)

    def optin_get(self, token_id: str) -> OptInRequest | None:
        with self._scope("optin_get", atomic=False):
            row = self._conn.execute(_OPTIN_GET, (token_id,)).fetchone()
        return None if row is None else _optin(row)

    def optin_settle(self, token_id: str, status: str, at: datetime) -> bool:
        op = "optin_settle"
        check_status(status, OPTIN_STATUSES[1:], op)
        params = (status, as_utc(at, op, "at"), token_id)
        with self._scope(op, atomic=False):
            return self._conn.execute(_OPTIN_SETTLE, params).rowcount == 1

    def optin_cancel(self, subject_key: str, channel: str, captured_until: datetime,
                     at: datetime) -> int:
        op = "optin_cancel"
        params = (as_utc(at, op, "at"), subject_key, channel,
                  as_utc(captured_until, op, "captured_until"))
        with self._scope(op, atomic=False):
            return self._conn.execute(_OPTIN_CANCEL, params).rowcount

    def optin_list(self, subject_key: str) -> list[OptInRequest]:
        with self._scope("optin_list", atomic=False):
            rows = self._conn.execute(_OPTIN_LIST, (subject_key,)).fetchall()
        return [_optin(row) for row in rows]

    def optin_delete(self, subject_key: str) -> int:
        with self._scope("optin_delete", atomic=False):
            return self._conn.execute(_OPTIN_DELETE, (subject_key,)).rowcount

    def scrub_deleted(self) -> bool:
        op = "scrub_deleted"
        with self._lock:
            if self._depth:
                raise StorageError(f"{op} failed: it cannot run inside a transaction")
            with self._scope(op, atomic=False):
                for table in _SCRUB_TABLES:
                    self._conn.execute(sql.SQL("VACUUM {}").format(sql.Identifier(table)))
        # VACUUM frees dead rows for reuse but does not overwrite them, and
        # the server's write-ahead log keeps them until it is recycled.
        return False


    # --- segments ------------------------------------------------------------------

    def add_tally(self, name: str, count: int, total: float) -> Tally:
        op = "add_tally"
        amount = finite(total, op, "total")
        with self._scope(op, atomic=False):
            row = self._conn.execute(_ADD_TALLY, (name, count, amount)).fetchone()
        if row is None:
            raise StorageError(f"{op} failed: no tally was returned")
        return Tally(int(row[0]), float(row[1]))

    def get_tally(self, name: str) -> Tally:
        with self._scope("get_tally", atomic=False):
            row = self._conn.execute(_GET_TALLY, (name,)).fetchone()
        return Tally(0, 0.0) if row is None else Tally(int(row[0]), float(row[1]))

    def count_segment_change(self, segment: str, day: date, entered: int, exited: int) -> int:
        op = "count_segment_change"
        with self._scope(op, atomic=True):
            row = self._conn.execute(_ADD_SEGMENT_SIZE, (segment, entered - exited)).fetchone()
            if row is None:
                raise StorageError(f"{op} failed: no size was returned")
            size = int(row[0])
            self._conn.execute(_COUNT_SEGMENT_DAY, (segment, day, size, entered, exited))
        return size

    def segment_sizes(self) -> dict[str, int]:
        with self._scope("segment_sizes", atomic=False):
            rows = self._conn.execute(_SEGMENT_SIZES).fetchall()
        return {segment: int(size) for segment, size in rows}

    def segment_days(self, since: date | None = None) -> list[SegmentDay]:
        with self._scope("segment_days", atomic=False):
            rows = self._conn.execute(_SEGMENT_DAYS, (since, since)).fetchall()
        return [SegmentDay(segment, day, int(size), int(entered), int(exited))
                for segment, day, size, entered, exited in rows]

def _notice(row: tuple[Any, ...]) -> OutboxNotice:
    (notice_id, key, destination, kind, subject_key, payload, status, attempts, next_at,
     created, updated, last_error) = row
    return OutboxNotice(
        id=notice_id, idempotency_key=key, destination=destination, kind=kind,
        subject_key=subject_key, payload=payload, status=status, attempts=attempts,
        next_attempt_at=_utc(next_at), created_at=_utc(created), updated_at=_utc(updated),
        last_error=last_error,
    )


def _optin(row: tuple[Any, ...]) -> OptInRequest:
    token_id, subject_key, channel, status, captured, expires, details, settled = row
    return OptInRequest(
        token_id=token_id, subject_key=subject_key, channel=channel, status=status,
        captured_at=_utc(captured), expires_at=_utc(expires), details=details,
        settled_at=None if settled is None else _utc(settled),
    )


def _quarantined(row: tuple[Any, ...]) -> QuarantinedEvent:
    event_id, subject_key, message_id, payload, received, expires = row
    return QuarantinedEvent(
        id=event_id, subject_key=subject_key, message_id=message_id, payload=payload,
        received_at=_utc(received), expires_at=_utc(expires),
    )
