"""In-event consent signals, decoded server-side into statements about our purposes.

Each reader takes the event (and the rules' vocabulary maps) and returns the
statements it finds, captured at the event's timestamp. Readers never raise
on malformed input: a signal they cannot read is no signal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cdp_plugin.consent.statements import Statement
from cdp_plugin.rules.model import PurposeRules
from cdp_plugin.types import Event

GPC_HEADER = "sec-gpc"
ADVERTISING = "advertising"


def _at(value: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _combine(stated: dict[str, list[bool]], event: Event, source: str,
             combine: Callable[[Iterable[bool]], bool] = all) -> list[Statement]:
    return [Statement(purpose, combine(values), event.timestamp, source)
            for purpose, values in stated.items()]


def _map(stated: dict[str, list[bool]], purposes: Iterable[str], granted: bool) -> None:
    for purpose in purposes:
        stated.setdefault(purpose, []).append(granted)


def segment_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """Segment's ``context.consent.categoryPreferences`` ({category: bool});
    a denial by any category mapped to a purpose denies it."""
    prefs = _at(event.payload, "context", "consent", "categoryPreferences")
    stated: dict[str, list[bool]] = {}
    if isinstance(prefs, Mapping):
        for category, value in prefs.items():
            if isinstance(value, bool):
                _map(stated, rules.segment_categories.get(category, ()), value)
    return _combine(stated, event, "in_event")


def rudderstack_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """RudderStack's ``context.consentManagement``: allowed and denied consent
    ids, combined per purpose by ``resolutionStrategy`` (``and``: every mapped
    category must be allowed; ``or``: one suffices)."""
    management = _at(event.payload, "context", "consentManagement")
    if not isinstance(management, Mapping):
        return []
    stated: dict[str, list[bool]] = {}
    for key, granted in (("allowedConsentIds", True), ("deniedConsentIds", False)):
        ids = management.get(key)
        if isinstance(ids, list):
            for consent_id in ids:
                if isinstance(consent_id, str):
                    _map(stated, rules.segment_categories.get(consent_id, ()), granted)
    strategy = management.get("resolutionStrategy")
    return _combine(stated, event, "in_event", any if strategy == "or" else all)


def consent_mode_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """Google Consent Mode v2 fields in ``context.consentMode``
    (``"granted"``/``"denied"``); a denied field denies every purpose it maps to."""
    mode = _at(event.payload, "context", "consentMode")
    stated: dict[str, list[bool]] = {}
    if isinstance(mode, Mapping):
        for name, value in mode.items():
            if value in ("granted", "denied"):
                _map(stated, rules.consent_mode.get(name, ()), value == "granted")
    return _combine(stated, event, "consent_mode")


def gpc_present(event: Event) -> bool:
    """Global Privacy Control: the ``Sec-GPC`` header is exactly ``1``, or
    ``context.gpc`` is true."""
    for name, value in event.headers.items():
        if name.lower() == GPC_HEADER and value == "1":
            return True
    return _at(event.payload, "context", "gpc") is True


def gpc_statements(event: Event, honours_gpc: bool) -> list[Statement]:
    """GPC opts out of advertising (sale, share, targeted ads) where the
    jurisdiction honours it."""
    if honours_gpc and gpc_present(event):
        return [Statement(ADVERTISING, False, event.timestamp, "gpc")]
    return []


READERS = (segment_statements, rudderstack_statements, consent_mode_statements)
"""The readers of in-event consent objects mapped through ``purposes.yaml``."""


def in_event_statements(event: Event, rules: PurposeRules,
                        honours_gpc: bool) -> list[Statement]:
    """Every statement the event carries about its subject's consent."""
    found = gpc_statements(event, honours_gpc)
    for read in READERS:
        found.extend(read(event, rules))
    return found
