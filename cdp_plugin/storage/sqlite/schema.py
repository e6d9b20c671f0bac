"""The tables of a SQLite store and the statements that keep its settings."""

from __future__ import annotations

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS seen_messages (
        message_id TEXT PRIMARY KEY,
        seen_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS seen_messages_seen_at ON seen_messages (seen_at)",
    # AUTOINCREMENT: a seq is never reused, even after the newest row is gone.
    """CREATE TABLE IF NOT EXISTS consent_ledger (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_key TEXT NOT NULL,
        source TEXT NOT NULL,
        captured_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        purposes TEXT NOT NULL,
        channels TEXT NOT NULL,
        topics TEXT NOT NULL,
        notice_version TEXT,
        proof TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS consent_ledger_subject ON consent_ledger (subject_key, seq)",
    """CREATE TABLE IF NOT EXISTS consent_current (
        subject_key TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('purpose', 'channel', 'topic')),
        name TEXT NOT NULL,
        granted INTEGER NOT NULL,
        source TEXT NOT NULL,
        captured_at INTEGER NOT NULL,
        seq INTEGER NOT NULL REFERENCES consent_ledger (seq),
        PRIMARY KEY (subject_key, scope, name)
    )""",
    """CREATE TABLE IF NOT EXISTS profiles (
        subject_key TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    )""",
    # Identities an event linked (identify with both ids, alias), so an erasure
    # reaches what is held under the others.
    """CREATE TABLE IF NOT EXISTS identity_links (
        subject_key TEXT NOT NULL,
        linked_key TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        PRIMARY KEY (subject_key, linked_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS identity_links_linked ON identity_links (linked_key)",
    # What the subject chose in the preference center beyond consent.
    """CREATE TABLE IF NOT EXISTS preferences (
        subject_key TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_key TEXT NOT NULL,
        message_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS quarantine_subject ON quarantine (subject_key, id)",
    "CREATE INDEX IF NOT EXISTS quarantine_expires ON quarantine (expires_at)",
    """CREATE TABLE IF NOT EXISTS subject_keys (
        subject_key TEXT NOT NULL,
        key_id TEXT NOT NULL,
        wrapped_key BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (subject_key, key_id)
    )""",
    """CREATE TABLE IF NOT EXISTS sends (
        subject_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        topic TEXT,
        sent_at INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sends_subject ON sends (subject_key, channel, sent_at)",
    # Preference-center callbacks: webhook replay protection, the notice
    # outbox, erasure tombstones and double opt-in requests.
    """CREATE TABLE IF NOT EXISTS webhook_ids (
        webhook_id TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS webhook_ids_seen_at ON webhook_ids (seen_at)",
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at, id)",
    "CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (subject_key, id)",
    # Forwarded events queued for their destinations (at least once, per-subject order).
    """CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        message_key TEXT NOT NULL,
        purposes TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_error TEXT,
        UNIQUE (destination, message_key)
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (destination, status, id)",
    "CREATE INDEX IF NOT EXISTS deliveries_subject ON deliveries "
    "(subject_key, destination, status, id)",
    # Experiments: each subject's arm, first exposure and conversion (pseudonyms only).
    """CREATE TABLE IF NOT EXISTS experiment_subjects (
        experiment TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        arm TEXT NOT NULL,
        assigned_at INTEGER NOT NULL,
        first_exposed_at INTEGER,
        converted INTEGER NOT NULL DEFAULT 0,
        revenue REAL NOT NULL DEFAULT 0,
        converted_at INTEGER,
        PRIMARY KEY (experiment, subject_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS experiment_subjects_subject ON experiment_subjects "
    "(subject_key)",
    """CREATE TABLE IF NOT EXISTS tombstones (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_key TEXT NOT NULL,
        erased_at INTEGER NOT NULL,
        proof TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS tombstones_subject ON tombstones (subject_key, id)",
    """CREATE TABLE IF NOT EXISTS optin_requests (
        token_id TEXT PRIMARY KEY,
        subject_key TEXT NOT NULL,
        channel TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
        captured_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        details TEXT NOT NULL,
        settled_at INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS optin_requests_subject ON optin_requests (subject_key, channel)",
    # Segments: running tallies (cohort aggregates), current sizes and daily churn.
    """CREATE TABLE IF NOT EXISTS tallies (
        name TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        total REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS segment_sizes (
        segment TEXT PRIMARY KEY,
        size INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS segment_stats (
        segment TEXT NOT NULL,
        day TEXT NOT NULL,
        size INTEGER NOT NULL,
        entered INTEGER NOT NULL,
        exited INTEGER NOT NULL,
        PRIMARY KEY (segment, day)
    ) WITHOUT ROWID""",
)

CREATE_META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

GET_META = "SELECT value FROM meta WHERE name = ?"

SET_META = (
    "INSERT INTO meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
