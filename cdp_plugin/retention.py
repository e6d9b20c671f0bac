"""Retention sweeps: delete stored data that has outlived its time to live.

:func:`sweep` applies :class:`~cdp_plugin.rules.retention.RetentionRules` to a
store in one transaction, so a sweep that fails half-way removes nothing. A
CDP runs it on a schedule (daily is enough: every cutoff is measured from
``now``, so a late sweep catches up), or through ``cdp-plugin retention sweep``.

What each kind means, and its cutoff (``now`` minus the kind's time to live):

``quarantine``
    held events at or past their own expiry, plus those received before the
    ``quarantine_hours`` cutoff when one is set;
``profiles``
    profiles last updated before the ``profiles_days`` cutoff;
``profile_fields``
    profiles that lost keys named in ``profile_fields_days`` (counted once
    per distinct time to live);
``consent_proofs``
    ledger records whose proof was emptied (``consent_proofs_days``);
``dedup``
    message ids forgotten (``dedup_days``);
``sends``
    recorded sends deleted (``sends_days``).

The consent ledger stays append-only in every sense but one: a proof older
than its time to live is emptied in place. Its state, source, times, notice
version and ``seq`` stay, so current consent and history read the same; what
is lost is the evidence of how that consent was given (GDPR Art 7(1)), and a
record that a current state still rests on keeps its proof whatever its age.
Set ``consent_proofs_days`` no shorter than the time you must be able to
demonstrate a past consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from cdp_plugin.rules.retention import RetentionRules
from cdp_plugin.runtime import Runtime
from cdp_plugin.storage.base import Store

KINDS: tuple[str, ...] = (
    "quarantine", "profiles", "profile_fields", "consent_proofs", "dedup", "sends",
    "deliveries",
)
"""Every kind a sweep reports, in the order it reports them."""


class PurgedEvent(NamedTuple):
    """A held event the sweep removed, named as the audit log names one."""

    message_id: str
    subject_key: str


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep removed, per kind (see :data:`KINDS`), and the cutoffs it used.

    ``cutoffs`` maps each kind to the instant before which its data went, or
    None when that kind has no time to live; ``purged`` names the held events
    removed, so each can be audited like any other purge.
    """

    at: datetime
    quarantine: int
    profiles: int
    profile_fields: int
    consent_proofs: int
    dedup: int
    sends: int
    cutoffs: Mapping[str, datetime | None]
    deliveries: int = 0
    purged: tuple[PurgedEvent, ...] = ()

    def counts(self) -> dict[str, int]:
        """The counts per kind, in :data:`KINDS` order."""
        return {kind: int(getattr(self, kind)) for kind in KINDS}

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: ``at``, ``counts`` and ``cutoffs`` (ISO 8601)."""
        return {
            "at": self.at.isoformat(),
            "counts": self.counts(),
            "cutoffs": {kind: None if cut is None else cut.isoformat()
                        for kind, cut in self.cutoffs.items()},
        }


def cutoffs(rules: RetentionRules, now: datetime) -> dict[str, datetime | None]:
    """For each kind, the instant before which its data is past its time to live.

    ``quarantine`` is None unless ``quarantine_hours`` is set (held events then
    still go at their own expiry); ``profile_fields`` is the earliest of the
    field cutoffs, or None without any.
    """
    def days(count: int | None) -> datetime | None:
        return None if count is None else now - timedelta(days=count)

    fields = rules.profile_fields_days.values()
    return {
        "quarantine": (None if rules.quarantine_hours is None
                       else now - timedelta(hours=rules.quarantine_hours)),
        "profiles": days(rules.profiles_days),
        "profile_fields": days(max(fields)) if fields else None,
        "consent_proofs": days(rules.consent_proofs_days),
        "dedup": days(rules.dedup_days),
        "sends": days(rules.sends_days),
        "deliveries": days(rules.deliveries_days),
    }


def sweep(target: Runtime | Store, rules: RetentionRules, now: datetime) -> SweepReport:
    """Delete everything past its time to live as of ``now``, in one store transaction.

    ``target`` is a pipeline's runtime or a store. Raises ValueError if
    ``now`` is naive, and StorageError if the store fails; then nothing is
    removed.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("sweep: now must be timezone-aware")
    store = target.store if isinstance(target, Runtime) else target
    cut = cutoffs(rules, now)
    by_days: dict[int, list[str]] = {}
    for name, days in sorted(rules.profile_fields_days.items()):
        by_days.setdefault(days, []).append(name)
    with store.transaction():
        held = {event.id: event for event in store.quarantine_expired(now)}
        quarantine_cut = cut["quarantine"]
        if quarantine_cut is not None:
            held.update((event.id, event)
                        for event in store.quarantine_received_before(quarantine_cut))
        ids = sorted(held)
        quarantine = store.quarantine_remove(ids)
        profiles = store.delete_profiles_before(now - timedelta(days=rules.profiles_days))
        fields = sum(store.drop_profile_fields_before(now - timedelta(days=days), names)
                     for days, names in sorted(by_days.items()))
        proofs_cut = cut["consent_proofs"]
        proofs = 0 if proofs_cut is None else store.blank_consent_proofs(proofs_cut)
        dedup = store.forget_messages_before(now - timedelta(days=rules.dedup_days))
        sends = store.delete_sends_before(now - timedelta(days=rules.sends_days))
        deliveries = store.delivery_forget(now - timedelta(days=rules.deliveries_days))
    return SweepReport(
        at=now, quarantine=quarantine, profiles=profiles, profile_fields=fields,
        consent_proofs=proofs, dedup=dedup, sends=sends, cutoffs=cut, deliveries=deliveries,
        purged=tuple(PurgedEvent(held[i].message_id, held[i].subject_key) for i in ids),
    )
