"""Requests about one subject from outside the event stream: a preference
update recorded in the consent ledger (which settles the subject's held
events), and the activation gate's question whether the subject may be
contacted now. Both are audited.
"""

from __future__ import annotations

from datetime import datetime

from cdp_plugin.audit.records import ActivationChecked, ConsentRecorded, PurposeChange
from cdp_plugin.delivery.cancel import cancel_queued
from cdp_plugin.errors import PluginError
from cdp_plugin.event_decisions import EventDecisions
from cdp_plugin.experiments.gate import check_experiment_contact
from cdp_plugin.types import (
    ConsentResult,
    ConsentState,
    ConsentUpdate,
    ContactDecision,
    ContactRequest,
)

ERASURE_SOURCE = "erasure"
"""The ledger source of the withdrawals an erasure records."""


class SubjectRequests(EventDecisions):
    """Consent updates and contact checks."""

    def record_consent(self, update: ConsentUpdate) -> ConsentResult:
        """Record a preference update in the ledger, audit it, notify observers,
        and settle the subject's quarantined events under the new state.

        Held events that are now allowed are released in their original order
        with their original timestamps (``ConsentResult.released``, and the
        ``cdp_quarantine_released`` hook); those now denied are purged. Raises
        :class:`PluginError` if the recording hook fails or no plugin records
        consent; nothing is recorded then.
        """
        subject_key = self.runtime.pseudonymizer.subject(update.subject_id)
        with self.unit_of_work():
            result = self.hooks.record_consent(update, subject_key)
            if result is None:
                raise PluginError("none", "cdp_record_consent",
                                  LookupError("no plugin records consent"))
            changes = list(result)
            self.hooks.audit(ConsentRecorded(
                subject_key, update.source, update.captured_at, update.notice_version,
                dict(update.purposes), dict(update.channels), dict(update.topics),
                tuple(PurposeChange(c.purpose, c.previous.value, c.current.value)
                      for c in changes)))
            for change in changes:
                self.hooks.announce_consent_changed(change)
                # A withdrawal ends the segments (and feature state) the purpose
                # justified in the same transaction, not in a later observer.
                self._segments_changed(self.hooks.apply_consent_change(
                    change, update.captured_at), "consent")
            withdrawn = {c.purpose for c in changes if c.current is not ConsentState.GRANTED}
            if withdrawn:
                self._cancel_deliveries(subject_key, withdrawn, update.source)
            settled = self._settle_quarantine(subject_key) if changes else []
        return ConsentResult(tuple(changes), tuple(settled))

    def _cancel_deliveries(self, subject_key: str, withdrawn: set[str], source: str) -> None:
        """Cancel the queued deliveries a withdrawal makes unlawful to send: the
        subject's and its linked identities' (the same person under an
        anonymous id), justified by a withdrawn purpose."""
        store = self.runtime.store
        keys = [subject_key, *store.linked_identities(subject_key)]
        reason = "erasure" if source == ERASURE_SOURCE else "withdrawal"
        cancel_queued(store, self.hooks, keys, withdrawn, reason, self.clock())

    def may_contact(self, subject_id: str, channel: str, topic: str | None = None, *,
                    purpose: str = "marketing", at: datetime | None = None,
                    record: bool = True, experiment: str | None = None) -> ContactDecision:
        """The activation gate, audited: may this subject be contacted now?

        With ``experiment`` (a name from ``rules/experiments.yaml``) the send
        belongs to that experiment: the answer names the subject's variant and
        its attributes, or refuses a holdout subject (``holdout``), a subject
        the experiment may not reach, or an experiment that is unknown or not
        running (:mod:`cdp_plugin.experiments.gate`). A failing gate or
        assignment plugin answers no (``plugin_error``), never yes.
        """
        request = ContactRequest(self.runtime.pseudonymizer.subject(subject_id), channel,
                                 at or self.clock(), topic, purpose, record, experiment)
        with self.unit_of_work():
            try:
                if experiment is None:
                    answer = (self.hooks.check_contact(request)
                              or ContactDecision(False, "no_gate"))
                else:
                    answer = check_experiment_contact(self.hooks, request)
            except PluginError as exc:
                answer = ContactDecision(False, "plugin_error")
                self.hooks.audit_plugin_error(exc, request.subject_key)
            self.hooks.audit(ActivationChecked(request.subject_key, channel, topic, purpose,
                                               answer.allowed, answer.reason))
        return answer
