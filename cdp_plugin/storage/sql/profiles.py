"""SQL store: subject profiles, shared by the SQL backends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from cdp_plugin.errors import StorageError
from cdp_plugin.events import is_object
from cdp_plugin.storage.base import dump_json, load_json
from cdp_plugin.storage.sql.core import PROFILE_READS, SQLCore, chunked

_UNREAD = object()


class SQLProfiles(SQLCore):
    """The subject profiles of a SQL store; a backend sets the statements."""

    _GET_PROFILE: ClassVar[str]
    _PUT_PROFILE: ClassVar[str]
    _DELETE_PROFILE: ClassVar[str]
    _FIRST_PROFILES: ClassVar[str]
    _NEXT_PROFILES: ClassVar[str]
    _PROFILES_MANY: ClassVar[str]
    """Subject key and profile as JSON text for many subjects (see ``_for_keys``)."""

    def get_profile(self, subject_key: str) -> dict[str, Any] | None:
        with self._scope("get_profile", atomic=False):
            known = self._read_ahead.get((PROFILE_READS, subject_key), _UNREAD)
            if known is _UNREAD:
                row = self._conn.execute(self._GET_PROFILE, (subject_key,)).fetchone()
                if row is None:
                    return None
                data: dict[str, Any] = self._from_db_json(row[0], "get_profile")
                return data
        # Parsed afresh on every read: the caller may change what it gets.
        return None if known is None else load_json(known, "get_profile")

    def prefetch_profiles(self, subject_keys: Iterable[str]) -> None:
        wanted = sorted({key for key in subject_keys
                         if (PROFILE_READS, key) not in self._read_ahead})
        if not self._in_transaction() or not wanted:
            return
        found: dict[str, str | None] = dict.fromkeys(wanted)
        with self._scope("prefetch_profiles", atomic=False):
            for chunk in chunked(wanted):
                statement, parameters = self._for_keys(self._PROFILES_MANY, chunk)
                for key, text in self._conn.execute(statement, parameters).fetchall():
                    found[key] = text
        for key, text in found.items():
            self._read_ahead[PROFILE_READS, key] = text


    def put_profile(self, subject_key: str, data: Mapping[str, Any], updated_at: datetime) -> None:
        op = "put_profile"
        if not is_object(data):
            raise StorageError(f"{op} failed: data must be a mapping")
        text = dump_json(dict(data), op, "data")
        at = self._to_db_time(updated_at, op, "updated_at")
        with self._scope(op, atomic=False):
            if not self._in_transaction():
                self._conn.execute(self._PUT_PROFILE, (subject_key, text, at))
                return
            # Written when the transaction commits, once per subject however many
            # events changed the profile; reads meanwhile see this text.
            self._hold_write(PROFILE_READS, subject_key, self._PUT_PROFILE,
                             (subject_key, text, at))
            self._read_ahead[PROFILE_READS, subject_key] = text

    def delete_profile(self, subject_key: str) -> bool:
        with self._scope("delete_profile", atomic=False):
            unsent = self._drop_held(PROFILE_READS, subject_key)  # none outside a transaction
            deleted = self._conn.execute(self._DELETE_PROFILE, (subject_key,)).rowcount > 0
            if self._in_transaction():
                self._read_ahead[PROFILE_READS, subject_key] = None  # none, as the table says
            return deleted or unsent  # a profile written but not sent yet existed all the same

    def iter_profiles(self) -> Iterator[tuple[str, dict[str, Any]]]:
        op = "iter_profiles"
        size = self.page_size
        last: str | None = None
        while True:
            # The lock is held per page only, so the caller may use the store
            # between pages.
            with self._scope(op, atomic=False):
                self._write_held(PROFILE_READS)
                if last is None:
                    rows = self._conn.execute(self._FIRST_PROFILES, (size,)).fetchall()
                else:
                    rows = self._conn.execute(self._NEXT_PROFILES, (last, size)).fetchall()
            for key, text in rows:
                yield key, self._from_db_json(text, op)
            if len(rows) < size:
                return
            last = rows[-1][0]
