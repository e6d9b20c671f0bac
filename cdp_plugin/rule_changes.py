"""Noticing, at start-up, that the rules differ from those the deployment last ran.

Every start audits ``rules.loaded``. When the loaded rule set's version
differs from the one recorded before, the start also audits
``rules.changed`` (:class:`~cdp_plugin.audit.records.RulesChanged`) with both
versions and the digests of the files that changed.

Where "the one recorded before" lives, and why: in the store's ``meta``
table (:data:`META_KEY`), not in the audit log. The audit log is one log per
worker (``worker_id``): a gateway, a callback server and ``cdp-plugin run``
sharing one store each write their own, and a refused log is continued
under a new worker id, starting empty. The last ``rules.loaded`` of one log
therefore says nothing about what the others ran, and a fresh log would
forget every earlier rule set. The store is what all workers of a deployment
share, and it is transactional: the comparison, the audit record and the new
value are one unit of work (the record is flushed before the store commits),
so a change is announced once for the deployment, by the first worker that
starts on it. Failure modes, all on the safe side: if the commit fails after
the flush, the next start announces the change again (a repeated record,
never a missing one); two workers starting on new rules at the same instant
may both announce it; a worker restarted on older rules while others run
newer ones announces each switch, as it happened.

A store opened for the first time has no previous value: the first start
records its version and announces nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cdp_plugin.audit.records import RulesChanged
from cdp_plugin.rules.model import RuleSet
from cdp_plugin.storage.base import Store

META_KEY = "rules_loaded"
"""The ``meta`` setting holding ``{"version": ..., "files": {name: sha256}}`` of the
rules the last start ran with."""


@dataclass(frozen=True, slots=True)
class _Recorded:
    version: str
    files: Mapping[str, str]

    def text(self) -> str:
        return json.dumps({"version": self.version, "files": dict(self.files)},
                          separators=(",", ":"), sort_keys=True)


def note_rules(store: Store, rules: RuleSet) -> RulesChanged | None:
    """Record ``rules`` as the store's current rule set; the ``rules.changed``
    record to audit if they differ from the previous one, else None.

    Call inside the unit of work that audits the result, so the record and the
    new value commit together. A previous value that cannot be read (edited by
    hand, or written by a future version) counts as absent: the new one replaces
    it and nothing is announced. Raises ``StorageError`` if the store fails.
    """
    previous = _read(store.get_meta(META_KEY))
    current = _Recorded(rules.version, dict(sorted(rules.file_hashes.items())))
    if previous != current:
        store.set_meta(META_KEY, current.text())
    if previous is None or previous.version == current.version:
        return None
    before, after = previous.files, current.files
    changed = sorted(name for name in set(before) | set(after)
                     if before.get(name) != after.get(name))
    return RulesChanged(
        previous.version, current.version,
        {name: before[name] for name in changed if name in before},
        {name: after[name] for name in changed if name in after},
    )


def _read(text: str | None) -> _Recorded | None:
    """The stored value, or None if there is none or it is not of the expected shape."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("version"), str):
        return None
    files = value.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return _Recorded(value["version"], dict(sorted(files.items())))
