"""Scheduled maintenance a CDP runs on a timer: re-consent findings, expiry of
held events, retention sweeps, time-based segment changes and key rotation.
Each call is one unit of work, and everything it changes is audited.
"""

from __future__ import annotations

import json
from datetime import datetime

from cdp_plugin.audit.records import KeysRotated, QuarantinePurged, ReconsentFound, RetentionSwept
from cdp_plugin.consent.reconsent import find_reconsent_due
from cdp_plugin.keys.keyring import Keyring
from cdp_plugin.retention import SweepReport, sweep
from cdp_plugin.types import ReconsentDue, SegmentChange
from cdp_plugin.unit_of_work import PipelineCore


class ScheduledMaintenance(PipelineCore):
    """The pipeline's scheduled calls."""

    def reconsent_due(self, now: datetime | None = None) -> list[ReconsentDue]:
        """Find subjects whose consent expired or was given under a superseded
        notice; audit and announce (``cdp_reconsent_due``) each new finding.

        Returns every subject currently due, including those announced before.
        A CDP schedules this (e.g. daily).
        """
        store = self.runtime.store
        due = find_reconsent_due(store, self.runtime.rules.purposes.consent,
                                 now or self.clock())
        with self.unit_of_work():
            for item in due:
                marker = f"reconsent:{item.subject_key}"
                finding = json.dumps([item.reasons, item.items])
                if store.get_meta(marker) == finding:
                    continue
                store.set_meta(marker, finding)
                self.hooks.audit(ReconsentFound(item.subject_key, tuple(item.reasons),
                                                tuple(item.items)))
                self.hooks.announce_reconsent_due(item)
        return due

    def expire_quarantine(self, now: datetime | None = None) -> int:
        """Purge held events whose time to live has passed; returns how many.

        A CDP schedules this (e.g. every few minutes); each purge is audited.
        """
        with self.unit_of_work():
            store = self.runtime.store
            expired = store.quarantine_expired(now or self.clock())
            for held in expired:
                self.hooks.audit(QuarantinePurged(held.message_id, held.subject_key,
                                                  ("quarantine.expired",)))
            store.quarantine_remove([held.id for held in expired])
        return len(expired)

    def sweep_retention(self, now: datetime | None = None) -> SweepReport:
        """Delete stored data past its time to live (``rules/retention.yaml``)
        in one unit of work; each purged held event and the sweep are audited."""
        with self.unit_of_work():
            report = sweep(self.runtime, self.runtime.rules.retention, now or self.clock())
            for purged in report.purged:
                self.hooks.audit(QuarantinePurged(purged.message_id, purged.subject_key,
                                                  ("retention.expired",)))
            self.hooks.audit(RetentionSwept(report.at, report.counts(), report.cutoffs))
        return report

    def tick(self, now: datetime | None = None) -> list[SegmentChange]:
        """Have the stages apply time-based segment entries and exits (dormant
        after N days, replenishment due) as of ``now`` (``cdp_tick``); each
        change is audited and announced to ``cdp_segment_changed`` after
        commit. A CDP schedules this. Raises PluginError (nothing applied) if
        a stage fails."""
        at = now or self.clock()
        with self.unit_of_work():
            changes = list(self.hooks.tick(at))
            self._segments_changed(changes, "tick")
        return changes

    def rotate_keys(self, subject_id: str | None = None) -> int:
        """Re-wrap data keys under the current master key and start new data
        keys for new writes (one subject, or all); old values still decrypt.
        Audited as ``keys.rotated``; returns how many subjects were rotated."""
        pseudonymizer = self.runtime.pseudonymizer
        subject = None if subject_id is None else pseudonymizer.subject(subject_id)
        with self.unit_of_work():
            rotated = Keyring(self.runtime.store, pseudonymizer.master_keys).rotate(subject)
            self.hooks.audit(KeysRotated(pseudonymizer.master_keys.current.key_id, subject,
                                         rotated))
        return rotated
