"""The host: the object a CDP embeds and calls per event or per batch.

For each event the pipeline validates, deduplicates, resolves consent,
decides, minimizes, updates segments and audits, through the hooks in
:mod:`cdp_plugin.hookspecs`. Its promises:

* Only an event whose outcome is ``FORWARDED`` may leave the plugin, and it
  leaves as the minimized payload in ``Outcome.event``.
* Fail closed: a deciding or transforming hook that raises, a decision that
  allows a purpose without consent, or an audit log that cannot be written
  means the event is not forwarded. Audit failures raise
  :class:`~cdp_plugin.errors.AuditError` and roll back the whole call.
* Every decision, rejection and plugin error is in the audit log before the
  call returns; observers are notified after the store has committed.

A pipeline is not thread-safe: use one per worker thread or process (each
with its own ``worker_id``, so each writes its own audit log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack

from cdp_plugin.audit.log import AuditLog
from cdp_plugin.audit.records import RulesLoaded
from cdp_plugin.config import Config, load_config
from cdp_plugin.event_decisions import VALIDATION_PLUGIN, RawEvent
from cdp_plugin.keys.audit_signer import load_audit_signer
from cdp_plugin.keys.master import load_master_key
from cdp_plugin.keys.pseudonyms import Pseudonymizer
from cdp_plugin.maintenance import ScheduledMaintenance
from cdp_plugin.manager import make_plugin_manager, plugin_names
from cdp_plugin.rule_changes import note_rules
from cdp_plugin.rules.builtin import locate_rules
from cdp_plugin.rules.loader import load_rules
from cdp_plugin.runtime import Runtime
from cdp_plugin.storage import open_store
from cdp_plugin.subject_requests import SubjectRequests
from cdp_plugin.unit_of_work import Clock, utcnow

__all__ = ["VALIDATION_PLUGIN", "Clock", "Pipeline", "RawEvent"]


class Pipeline(SubjectRequests, ScheduledMaintenance):
    """One ingest pipeline: a plugin manager plus the resources it runs on.

    Build it with :meth:`from_config`; call :meth:`process` or
    :meth:`process_batch`; :meth:`close` it (or use it as a context manager)
    so the audit log writes its final checkpoint. The per-event path is in
    :mod:`cdp_plugin.event_decisions`, consent updates and contact checks in
    :mod:`cdp_plugin.subject_requests`, scheduled calls in
    :mod:`cdp_plugin.maintenance`, the unit of work in
    :mod:`cdp_plugin.unit_of_work`.
    """

    @classmethod
    def from_config(cls, config: Config | None = None, *, plugins: Sequence[object] = (),
                    clock: Clock = utcnow, env: Mapping[str, str] | None = None) -> Pipeline:
        """Load rules, open the store, keys and audit log, register plugins.

        The rules come from ``config.rules_dir``, or with none configured from
        ``rules`` if it exists, else the built-in rules (``locate_rules``).
        Keys come from ``env`` (default: the process environment), then the
        files ``config`` names; pass ``env={}`` for a pipeline that must never
        use the deployment's keys.

        The start is audited as ``rules.loaded``, followed by ``rules.changed``
        when the store last ran other rules (:mod:`cdp_plugin.rule_changes`),
        in one unit of work with the store's record of them.

        Raises ``RulesError``, ``ConfigError``, ``StorageError``,
        ``AuditError`` or ``PluginError``; nothing stays open on failure.
        """
        config = config or load_config()
        environ = None if env is None else dict(env)
        rules = load_rules(locate_rules(config.rules_dir).path)
        with ExitStack() as cleanup:
            store = open_store(config.store_target)
            cleanup.callback(store.close)
            audit_log = AuditLog(
                config.audit_dir, config.audit_origin, load_audit_signer(config, environ),
                checkpoint_every=config.checkpoint_every,
                checkpoint_interval=config.checkpoint_interval, fsync=config.audit_fsync,
            )
            cleanup.callback(audit_log.close)
            runtime = Runtime(config, rules, store,
                              Pseudonymizer(load_master_key(config, environ)), audit_log)
            pm = make_plugin_manager(blocked=config.blocked_plugins,
                                     load_entrypoints=config.load_entrypoints,
                                     extra_plugins=plugins)
            pipeline = cls(runtime, pm, clock)
            with store.transaction():
                pipeline.hooks.audit(RulesLoaded(rules.version, dict(rules.file_hashes),
                                                 tuple(plugin_names(pm))))
                change = note_rules(store, rules)
                if change is not None:
                    pipeline.hooks.audit(change)
                audit_log.flush()  # before the store commits its record of the rules
            cleanup.pop_all()
        pipeline.hooks.deliver()
        return pipeline
