"""PostgreSQL store: the delivery queue."""

from __future__ import annotations

from cdp_plugin.storage.postgres.core import PostgresCore
from cdp_plugin.storage.sql.deliveries import DELIVERY_COLUMNS, SQLDeliveries


class PostgresDeliveries(SQLDeliveries, PostgresCore):
    """The delivery queue of a PostgreSQL store.

    Leases of one destination take a transaction-scoped advisory lock: the
    lease statement then runs on a snapshot that sees every earlier lease
    committed, so two workers never lease one subject's rows out of order.
    """

    _LEASE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('cdp_plugin.deliveries'), hashtext(%s))"

    _DELIVERY_ADD = (
        "INSERT INTO deliveries (destination, subject_key, message_key, purposes, payload, "
        "status, attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s) "
        "ON CONFLICT (destination, message_key) DO NOTHING"
    )
    # Only the head of each subject's queue, or rows whose older pending rows
    # are all due too (and so come first in id order, within the limit).
    _DELIVERY_LEASE = (
        "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = %s, updated_at = %s "
        "WHERE id IN (SELECT d.id FROM deliveries d WHERE d.destination = %s "
        "AND d.status = 'pending' AND d.next_attempt_at <= %s AND NOT EXISTS ("
        "SELECT 1 FROM deliveries o WHERE o.subject_key = d.subject_key "
        "AND o.destination = d.destination AND o.status = 'pending' AND o.id < d.id "
        "AND o.next_attempt_at > %s) ORDER BY d.id LIMIT %s FOR UPDATE) "
        f"RETURNING {DELIVERY_COLUMNS}"
    )
    _DELIVERY_SETTLE = (
        "UPDATE deliveries SET status = %s, next_attempt_at = %s, last_error = %s, "
        "updated_at = %s, payload = CASE WHEN %s::text = 'delivered' THEN '' ELSE payload END "
        "WHERE id = %s AND attempts = %s AND status = 'pending'"
    )
    _DELIVERY_GIVE_BACK = (
        "UPDATE deliveries SET attempts = attempts - 1, next_attempt_at = %s, last_error = %s, "
        "updated_at = %s "
        "WHERE id = %s AND attempts = %s AND status = 'pending'"
    )
    _DELIVERY_PENDING_OF = (
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subject_key = %s "
        "AND status = 'pending' ORDER BY id"
    )
    _DELIVERY_CANCEL = (
        "UPDATE deliveries SET status = 'cancelled', updated_at = %s, payload = '' "
        "WHERE id = %s AND status = 'pending'"
    )
    _DELIVERY_DELETE = "DELETE FROM deliveries WHERE subject_key = %s"
    _DELIVERY_FORGET = (
        "DELETE FROM deliveries WHERE status <> 'pending' AND updated_at < %s"
    )
    _DELIVERY_REQUEUE = (
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = %s, "
        "updated_at = %s WHERE id = %s AND status = 'dead'"
    )
    _DELIVERY_LIST = (
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE (%s::text IS NULL OR subject_key = %s) "
        "AND (%s::text IS NULL OR status = %s) AND (%s::text IS NULL OR destination = %s) "
        "ORDER BY id LIMIT NULLIF(%s, -1)"
    )
    _DELIVERY_COUNTS = (
        "SELECT destination, status, count(*) FROM deliveries GROUP BY destination, status"
    )
    _DELIVERY_NEXT_DUE = (
        "SELECT min(next_attempt_at) FROM deliveries WHERE destination = %s "
        "AND status = 'pending'"
    )

    def _lock_destination(self, destination: str) -> None:
        self._conn.execute(self._LEASE_LOCK, (destination,))
