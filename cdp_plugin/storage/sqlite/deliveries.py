"""SQLite store: the delivery queue."""

from __future__ import annotations

from cdp_plugin.storage.sql.deliveries import DELIVERY_COLUMNS, SQLDeliveries
from cdp_plugin.storage.sqlite.core import SQLiteCore


class SQLiteDeliveries(SQLDeliveries, SQLiteCore):
    """The delivery queue of a SQLite store (one writer at a time, so leases
    of one destination never overlap)."""

    _DELIVERY_ADD = (
        "INSERT INTO deliveries (destination, subject_key, message_key, purposes, payload, "
        "status, attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
        "ON CONFLICT (destination, message_key) DO NOTHING"
    )
    # Only the head of each subject's queue, or rows whose older pending rows
    # are all due too (and so come first in id order, within the limit).
    _DELIVERY_LEASE = (
        "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? "
        "WHERE id IN (SELECT d.id FROM deliveries d WHERE d.destination = ? "
        "AND d.status = 'pending' AND d.next_attempt_at <= ? AND NOT EXISTS ("
        "SELECT 1 FROM deliveries o WHERE o.subject_key = d.subject_key "
        "AND o.destination = d.destination AND o.status = 'pending' AND o.id < d.id "
        "AND o.next_attempt_at > ?) ORDER BY d.id LIMIT ?) "
        f"RETURNING {DELIVERY_COLUMNS}"
    )
    _DELIVERY_SETTLE = (
        "UPDATE deliveries SET status = ?, next_attempt_at = ?, last_error = ?, "
        "updated_at = ?, payload = CASE WHEN ? = 'delivered' THEN '' ELSE payload END "
        "WHERE id = ? AND attempts = ? AND status = 'pending'"
    )
    _DELIVERY_GIVE_BACK = (
        "UPDATE deliveries SET attempts = attempts - 1, next_attempt_at = ?, last_error = ?, "
        "updated_at = ? "
        "WHERE id = ? AND attempts = ? AND status = 'pending'"
    )
    _DELIVERY_PENDING_OF = (
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subject_key = ? "
        "AND status = 'pending' ORDER BY id"
    )
    _DELIVERY_CANCEL = (
        "UPDATE deliveries SET status = 'cancelled', updated_at = ?, payload = '' "
        "WHERE id = ? AND status = 'pending'"
    )
    _DELIVERY_DELETE = "DELETE FROM deliveries WHERE subject_key = ?"
    _DELIVERY_FORGET = (
        "DELETE FROM deliveries WHERE status <> 'pending' AND updated_at < ?"
    )
    _DELIVERY_REQUEUE = (
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, "
        "updated_at = ? WHERE id = ? AND status = 'dead'"
    )
    _DELIVERY_LIST = (
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE (? IS NULL OR subject_key = ?) "
        "AND (? IS NULL OR status = ?) AND (? IS NULL OR destination = ?) "
        "ORDER BY id LIMIT ?"
    )
    _DELIVERY_COUNTS = (
        "SELECT destination, status, count(*) FROM deliveries GROUP BY destination, status"
    )
    _DELIVERY_NEXT_DUE = (
        "SELECT min(next_attempt_at) FROM deliveries WHERE destination = ? "
        "AND status = 'pending'"
    )
