"""Calling hooks for the pipeline: deciding hooks, auditing, and deferred observers.

The error policy of each kind of hook is the plugin manager's
(:class:`cdp_plugin.hookpolicy.CdpPluginManager`); this module adds what the
pipeline needs around it:

* Deciding and transforming hooks go through :meth:`HookRunner.call`: a
  failing implementation raises :class:`PluginError` naming its plugin, so
  the caller can fail closed.
* Audit records go through :meth:`HookRunner.audit`: anything short of an
  accepted entry raises :class:`AuditError`.
* Observer calls are queued with :meth:`HookRunner.announce` and delivered
  by :meth:`HookRunner.deliver` once the store has committed; a failing
  observer is logged and skipped by the manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp_plugin.errors import AuditError, PluginError
from cdp_plugin.hookpolicy import CdpPluginManager
from cdp_plugin.runtime import Runtime
from cdp_plugin.types import AuditEntry


class HookRunner:
    """The pipeline's single way of calling plugins."""

    def __init__(self, pm: CdpPluginManager, runtime: Runtime) -> None:
        self.pm = pm
        self.runtime = runtime
        self._announcements: list[tuple[str, dict[str, Any]]] = []

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a deciding or transforming hook; a failure raises PluginError."""
        return getattr(self.pm.hook, hook_name)(runtime=self.runtime, **kwargs)

    def audit(self, record: Mapping[str, Any]) -> AuditEntry:
        """Write one audit record or raise AuditError (the caller must not forward)."""
        try:
            entry = self.pm.hook.cdp_write_audit(record=record, runtime=self.runtime)
        except PluginError as exc:
            raise AuditError(f"audit plugin {exc.plugin!r} failed: "
                             f"{type(exc.cause).__name__}") from exc
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
        """Call an observer hook now; a failing observer is logged and skipped."""
        getattr(self.pm.hook, hook_name)(runtime=self.runtime, **kwargs)
