"""PostgreSQL store: the concerns put together into one :class:`PostgresStore`."""

from __future__ import annotations

from cdp_plugin.storage.postgres.callbacks import PostgresCallbacks
from cdp_plugin.storage.postgres.consent import PostgresConsent
from cdp_plugin.storage.postgres.deliveries import PostgresDeliveries
from cdp_plugin.storage.postgres.experiments import PostgresExperiments
from cdp_plugin.storage.postgres.keys import PostgresKeys
from cdp_plugin.storage.postgres.links import PostgresLinks
from cdp_plugin.storage.postgres.messages import PostgresMessages
from cdp_plugin.storage.postgres.preferences import PostgresPreferences
from cdp_plugin.storage.postgres.profiles import PostgresProfiles
from cdp_plugin.storage.postgres.quarantine import PostgresQuarantine
from cdp_plugin.storage.postgres.retention import PostgresRetention
from cdp_plugin.storage.postgres.segments import PostgresSegments
from cdp_plugin.storage.postgres.sends import PostgresSends


class PostgresStore(
    PostgresMessages,
    PostgresConsent,
    PostgresProfiles,
    PostgresPreferences,
    PostgresLinks,
    PostgresQuarantine,
    PostgresKeys,
    PostgresSends,
    PostgresCallbacks,
    PostgresDeliveries,
    PostgresExperiments,
    PostgresSegments,
    PostgresRetention,
):
    """A :class:`Store` in PostgreSQL, safe to share between threads.

    ``schema``, if given, is created when missing and used for every table
    (through the connection's search_path); otherwise the DSN's default
    applies. Opening creates the tables as needed. Raises StorageError if the
    server cannot be reached (the DSN is never quoted: it may hold a
    password), the schema cannot be created, or it holds another schema version.
    """
