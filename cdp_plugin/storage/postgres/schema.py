"""The tables of a PostgreSQL store and the statements that keep its settings."""

from __future__ import annotations

# Serializes schema creation between processes opening the same database.
SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('cdp_plugin.storage.schema'))"

SCHEMA = (
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
    # Identities an event linked (identify with both ids, alias), so an erasure
    # reaches what is held under the others.
    """CREATE TABLE IF NOT EXISTS identity_links (
        subject_key text COLLATE "C" NOT NULL,
        linked_key text COLLATE "C" NOT NULL,
        linked_at timestamptz NOT NULL,
        PRIMARY KEY (subject_key, linked_key)
    )""",
    "CREATE INDEX IF NOT EXISTS identity_links_linked ON identity_links (linked_key)",
    # What the subject chose in the preference center beyond consent.
    """CREATE TABLE IF NOT EXISTS preferences (
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
    # Forwarded events queued for their destinations (at least once, per-subject order).
    """CREATE TABLE IF NOT EXISTS deliveries (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        destination text COLLATE "C" NOT NULL,
        subject_key text COLLATE "C" NOT NULL,
        message_key text COLLATE "C" NOT NULL,
        purposes text NOT NULL,
        payload text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
        attempts integer NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_error text,
        UNIQUE (destination, message_key)
    )""",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (destination, status, id)",
    "CREATE INDEX IF NOT EXISTS deliveries_subject ON deliveries "
    "(subject_key, destination, status, id)",
    # Experiments: each subject's arm, first exposure and conversion (pseudonyms only).
    """CREATE TABLE IF NOT EXISTS experiment_subjects (
        experiment text COLLATE "C" NOT NULL,
        subject_key text COLLATE "C" NOT NULL,
        arm text COLLATE "C" NOT NULL,
        assigned_at timestamptz NOT NULL,
        first_exposed_at timestamptz,
        converted boolean NOT NULL DEFAULT FALSE,
        revenue double precision NOT NULL DEFAULT 0,
        converted_at timestamptz,
        PRIMARY KEY (experiment, subject_key)
    )""",
    "CREATE INDEX IF NOT EXISTS experiment_subjects_subject ON experiment_subjects "
    "(subject_key)",
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

CREATE_META = "CREATE TABLE IF NOT EXISTS meta (name text PRIMARY KEY, value text NOT NULL)"

GET_META = "SELECT value FROM meta WHERE name = %s"

SET_META = (
    "INSERT INTO meta (name, value) VALUES (%s, %s) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
