"""The activation gate's checks, as plain functions over state already read.

Each check answers None when it passes, else the refusal. Reason codes:
``purpose.undefined``, ``purpose.unknown``, ``purpose.denied``,
``purpose.expired``, ``channel.undefined``, ``channel.unknown``,
``channel.denied``, ``topic.undefined``, ``topic.unknown``,
``topic.unsubscribed``, ``frequency_cap`` and ``quiet_hours``. The built-in
activation stage (:mod:`cdp_plugin.stages.activation`) reads the store and
runs them in that order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from cdp_plugin.rules.model import FrequencyCap, Purpose, PurposeRules, QuietHours, time_zone
from cdp_plugin.storage.base import CurrentConsent
from cdp_plugin.types import ContactDecision

Ledger = Mapping[tuple[str, str], CurrentConsent]
"""A subject's current consent by ``(scope, name)``, as ``Store.current_consent`` gives it."""


def purpose_refusal(purpose: Purpose | None, state: CurrentConsent | None,
                    valid: bool) -> str | None:
    """Why the message's purpose forbids contact, or None.

    ``purpose`` is None when the rules do not define it. ``state`` is the
    ledger's current state for it; ``valid`` says whether that state is
    recent enough and given under a notice still in force. A ``contract``
    purpose needs no consent. A ``legitimate_interest`` purpose is refused
    only by a denial, however old: an objection does not expire. A
    ``consent`` purpose needs a valid grant; a denial refuses however old.
    """
    if purpose is None:
        return "purpose.undefined"
    if purpose.legal_basis == "contract":
        return None
    if purpose.legal_basis == "legitimate_interest":
        return "purpose.denied" if state is not None and not state.granted else None
    if state is None:
        return "purpose.unknown"
    if not state.granted:
        return "purpose.denied"
    return None if valid else "purpose.expired"


def channel_refusal(channel: str, rules: PurposeRules, ledger: Ledger, *,
                    opt_in_needed: bool) -> str | None:
    """Why ``channel`` may not carry the message, or None.

    The channel must be defined; when ``opt_in_needed``, the subject must
    have opted in to it (no statement means no).
    """
    if channel not in rules.channels:
        return "channel.undefined"
    if not opt_in_needed:
        return None
    state = ledger.get(("channel", channel))
    if state is None:
        return "channel.unknown"
    return None if state.granted else "channel.denied"


def topic_refusal(topic: str | None, rules: PurposeRules, ledger: Ledger, *,
                  subscription_needed: bool) -> str | None:
    """Why the message may not be about ``topic``, or None (also for no topic).

    The topic must be defined; when ``subscription_needed``, the subject must
    have subscribed to it (no statement means no).
    """
    if topic is None:
        return None
    if topic not in rules.topics:
        return "topic.undefined"
    if not subscription_needed:
        return None
    state = ledger.get(("topic", topic))
    if state is None:
        return "topic.unknown"
    return None if state.granted else "topic.unsubscribed"


SUBJECT_CAPS = "frequency_caps"
"""Preferences key (:meth:`Store.get_preferences`) holding the per-channel caps a
subject chose in the preference center: channel -> ``{"max", "per_days", "captured_at"}``."""


def subject_cap(preferences: Mapping[str, Any] | None, channel: str) -> FrequencyCap | None:
    """The cap the subject chose for ``channel``, or None (also for a stored entry
    that is not a well-formed cap, which then leaves the rules' cap alone)."""
    caps = preferences.get(SUBJECT_CAPS) if preferences is not None else None
    held = caps.get(channel) if isinstance(caps, Mapping) else None
    if not isinstance(held, Mapping):
        return None
    most, days = held.get("max"), held.get("per_days")
    if (not isinstance(most, int) or isinstance(most, bool) or most < 0
            or not isinstance(days, int) or isinstance(days, bool) or days < 1):
        return None
    return FrequencyCap(max=most, per_days=days)


def caps_refusal(caps: Sequence[FrequencyCap], sends: Sequence[datetime],
                 at: datetime) -> ContactDecision | None:
    """The strictest refusal among ``caps`` (every cap must have room), or None.

    A send is allowed only if it keeps within every cap, the rules' and the
    subject's alike; when several are full, ``retry_after`` is the latest of
    their retry times (none at all if a full cap never frees up). ``sends`` must
    reach back to the earliest :func:`cap_window_start` of the caps.
    """
    refusals = []
    for cap in caps:
        start = cap_window_start(cap, at)
        refusal = frequency_refusal(cap, [sent for sent in sends if sent > start], at)
        if refusal is not None:
            refusals.append(refusal)
    if not refusals:
        return None
    never = [r for r in refusals if r.retry_after is None]
    return never[0] if never else max(refusals, key=lambda r: r.retry_after or at)


def cap_window_start(cap: FrequencyCap, at: datetime) -> datetime:
    """The excluded start of the window ``(at - per_days, at]`` that ``cap`` counts."""
    return at - timedelta(days=cap.per_days)


def frequency_refusal(cap: FrequencyCap, sends: Sequence[datetime],
                      at: datetime) -> ContactDecision | None:
    """A ``frequency_cap`` refusal if the window ending at ``at`` is full, else None.

    ``sends`` are the channel's recorded sends after :func:`cap_window_start`,
    ascending; any after ``at`` do not count. ``retry_after`` is when enough
    of the oldest counted sends have left the window to send once more (for
    a full window, when the oldest leaves); a cap of 0 never frees up.
    """
    counted = [sent for sent in sends if sent <= at]
    if len(counted) < cap.max:
        return None
    if cap.max == 0:
        return ContactDecision(False, "frequency_cap")
    leaving = counted[len(counted) - cap.max]
    return ContactDecision(False, "frequency_cap", leaving + timedelta(days=cap.per_days))


def subject_time_zone(profile: Mapping[str, Any] | None, quiet: QuietHours) -> tzinfo:
    """The subject's time zone: the profile's ``features.last_timezone`` if it
    names a known IANA zone, else the quiet hours' default (UTC if even that
    cannot be loaded)."""
    features = profile.get("features") if profile is not None else None
    name = features.get("last_timezone") if isinstance(features, Mapping) else None
    zone = time_zone(name) if isinstance(name, str) else None
    return zone or time_zone(quiet.default_timezone) or UTC


def quiet_hours_end(quiet: QuietHours, at: datetime, zone: tzinfo) -> datetime | None:
    """When the quiet hours that ``at`` falls in end, in UTC; None if ``at``
    (aware) is not in quiet hours in ``zone``."""
    local = at.astimezone(zone)
    wall = local.time()
    if not quiet.quiet_at(wall):
        return None
    day = local.date()
    if wall >= quiet.end:  # in a window that wraps midnight, before midnight
        day += timedelta(days=1)
    end = datetime.combine(day, quiet.end, tzinfo=zone)
    if end.astimezone(UTC) <= at.astimezone(UTC):
        # ``at`` is in the repeated hour after clocks go back, and the end
        # read as its first occurrence has passed: it is the second one.
        end = end.replace(fold=1)
    return end.astimezone(UTC)
