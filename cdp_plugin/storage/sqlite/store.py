"""SQLite store: the concerns put together into one :class:`SQLiteStore`."""

from __future__ import annotations

from cdp_plugin.storage.sqlite.callbacks import SQLiteCallbacks
from cdp_plugin.storage.sqlite.consent import SQLiteConsent
from cdp_plugin.storage.sqlite.deliveries import SQLiteDeliveries
from cdp_plugin.storage.sqlite.experiments import SQLiteExperiments
from cdp_plugin.storage.sqlite.keys import SQLiteKeys
from cdp_plugin.storage.sqlite.links import SQLiteLinks
from cdp_plugin.storage.sqlite.messages import SQLiteMessages
from cdp_plugin.storage.sqlite.preferences import SQLitePreferences
from cdp_plugin.storage.sqlite.profiles import SQLiteProfiles
from cdp_plugin.storage.sqlite.quarantine import SQLiteQuarantine
from cdp_plugin.storage.sqlite.retention import SQLiteRetention
from cdp_plugin.storage.sqlite.segments import SQLiteSegments
from cdp_plugin.storage.sqlite.sends import SQLiteSends


class SQLiteStore(
    SQLiteMessages,
    SQLiteConsent,
    SQLiteProfiles,
    SQLitePreferences,
    SQLiteLinks,
    SQLiteQuarantine,
    SQLiteKeys,
    SQLiteSends,
    SQLiteCallbacks,
    SQLiteDeliveries,
    SQLiteExperiments,
    SQLiteSegments,
    SQLiteRetention,
):
    """A :class:`Store` in one SQLite file, safe to share between threads.

    Opening creates the parent directory, the file (owner-only) and the schema
    as needed.
    Raises StorageError if any of that fails or the file holds another schema
    version.
    """
