"""Calling hooks with the error policy of their kind, auditing, and deferred observers.

* Deciding and transforming hooks go through :meth:`HookRunner.call`: any
  exception becomes a :class:`PluginError` naming the plugin, so the caller
  can fail closed.
* Audit records (:class:`~cdp_plugin.audit.records.AuditRecord`) go through
  :meth:`HookRunner.audit`: anything short of an accepted entry raises
  :class:`AuditError`.
* Observer calls are queued with :meth:`HookRunner.announce` and delivered
  by :meth:`HookRunner.deliver` once the store has committed; each observer
  runs on its own, and a failing one is logged and skipped.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import Any

import pluggy

from cdp_plugin.audit.records import AuditRecord, record_from_mapping
from cdp_plugin.errors import AuditError, PluginError
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import AuditEntry

log = logging.getLogger(__name__)


class HookRunner:
    """The pipeline's single way of calling plugins."""

    def __init__(self, pm: pluggy.PluginManager, runtime: Runtime) -> None:
        self.pm = pm
        self.runtime = runtime
        self._announcements: list[tuple[str, dict[str, Any]]] = []

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a deciding or transforming hook; a failure becomes PluginError."""
        try:
            return getattr(self.pm.hook, hook_name)(runtime=self.runtime, **kwargs)
        except AuditError:
            raise
        except Exception as exc:
            raise PluginError(self.blame(hook_name, exc), hook_name, exc) from exc

    def blame(self, hook_name: str, exc: BaseException) -> str:
        """The plugin whose implementation is deepest in the traceback."""
        hook = getattr(self.pm.hook, hook_name)
        owners = {impl.function.__code__: impl.plugin_name for impl in hook.get_hookimpls()}
        culprit = "unknown"
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            culprit = owners.get(frame.f_code, culprit)
        return culprit

    def audit(self, record: AuditRecord | Mapping[str, Any]) -> AuditEntry:
        """Write one audit record or raise AuditError (the caller must not forward).

        A mapping is read into its typed record first (see
        :func:`~cdp_plugin.audit.records.record_from_mapping`); one of a kind
        no record class knows, or with a field that does not fit, raises
        AuditError and nothing is written.
        """
        if not isinstance(record, AuditRecord):
            record = record_from_mapping(record)
        try:
            entry = self.pm.hook.cdp_write_audit(record=record, runtime=self.runtime)
        except AuditError:
            raise
        except Exception as exc:
            plugin = self.blame("cdp_write_audit", exc)
            raise AuditError(f"audit plugin {plugin!r} failed: {type(exc).__name__}") from exc
        if not isinstance(entry, AuditEntry):
            raise AuditError("no plugin wrote the audit record")
        if self.pm.hook.cdp_audit_record_written.get_hookimpls():
            self.announce("cdp_audit_record_written", entry=entry)
        return entry

    def audit_plugin_error(self, exc: PluginError, subject_key: str | None,
                           message_id: str | None = None) -> AuditEntry:
        """The ``plugin.error`` record: which plugin failed in which hook, no details."""
        return self.audit({"kind": "plugin.error", "message_id": message_id,
                           "subject": subject_key, "plugin": exc.plugin, "hook": exc.hook,
                           "error_type": type(exc.cause).__name__})

    def announce(self, hook_name: str, **kwargs: Any) -> None:
        """Queue an observer call until the current unit of work commits."""
        self._announcements.append((hook_name, kwargs))

    def deliver(self) -> None:
        """Make the queued observer calls, oldest first."""
        queued, self._announcements = self._announcements, []
        for hook_name, kwargs in queued:
            self.notify(hook_name, kwargs)

    def discard(self) -> None:
        """Drop the queued calls: what they announce was rolled back."""
        self._announcements.clear()

    def notify(self, hook_name: str, kwargs: Mapping[str, Any]) -> None:
        """Call each observer on its own; a failing observer is logged and skipped."""
        arguments = {"runtime": self.runtime, **kwargs}
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(*(arguments[name] for name in impl.argnames))
            except Exception as exc:
                log.error("observer %s failed in %s: %s", impl.plugin_name, hook_name,
                          type(exc).__name__)
