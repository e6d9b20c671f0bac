"""In-event consent signals, decoded server-side into statements about our purposes.

Each reader takes the event (and the rules' vocabulary maps) and returns the
statements it finds, captured at the event's timestamp. Readers never raise
on malformed input: a signal they cannot read is no signal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cdp_plugin.consent.statements import Statement
from cdp_plugin.events import is_object
from cdp_plugin.minimization.pii_guard import redact
from cdp_plugin.rules.model import PurposeRules
from cdp_plugin.signals import ConsentStringError
from cdp_plugin.signals.gpp import decode_gpp
from cdp_plugin.signals.tcf import (
    TCString,
    consented_purposes,
    decode_tcf,
    effective_purposes,
    is_usable,
)
from cdp_plugin.signals.usnat import UsNat
from cdp_plugin.types import Event

GPC_HEADER = "sec-gpc"
ADVERTISING = "advertising"


def _at(value: Any, *path: str) -> Any:
    for part in path:
        if not is_object(value):
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


_ANSWERS = {"accept": True, "deny": False}
"""Osano's string answers, accepted beside booleans (case-insensitively)."""


def _answer(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _ANSWERS.get(value.strip().casefold())
    return None


def _category_preferences(event: Event) -> Mapping[Any, Any]:
    prefs = _at(event.payload, "context", "consent", "categoryPreferences")
    return prefs if is_object(prefs) else {}


def _consent_ids(event: Event) -> list[tuple[str, bool]]:
    management = _at(event.payload, "context", "consentManagement")
    found: list[tuple[str, bool]] = []
    if is_object(management):
        for key, granted in (("allowedConsentIds", True), ("deniedConsentIds", False)):
            ids = management.get(key)
            if isinstance(ids, list):
                found.extend((i, granted) for i in ids if isinstance(i, str))
    return found


def segment_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """Segment's ``context.consent.categoryPreferences`` ({category: bool, or
    Osano's ``"ACCEPT"``/``"DENY"``}), ids matched case-insensitively; a denial
    by any category mapped to a purpose denies it."""
    stated: dict[str, list[bool]] = {}
    for category, value in _category_preferences(event).items():
        answer = _answer(value)
        if isinstance(category, str) and answer is not None:
            _map(stated, rules.category_purposes(category) or (), answer)
    return _combine(stated, event, "in_event")


def rudderstack_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """RudderStack's ``context.consentManagement``: allowed and denied consent
    ids, combined per purpose by ``resolutionStrategy`` (``and``: every mapped
    category must be allowed; ``or``: one suffices)."""
    stated: dict[str, list[bool]] = {}
    for consent_id, granted in _consent_ids(event):
        _map(stated, rules.category_purposes(consent_id) or (), granted)
    strategy = _at(event.payload, "context", "consentManagement", "resolutionStrategy")
    return _combine(stated, event, "in_event", any if strategy == "or" else all)


UNMAPPED_LIMIT = 3
"""At most this many unrecognised category names are reported per event."""

_PRINTABLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,63}")


def _reportable(name: str) -> str:
    """A category name as it may be reported: ids are configuration, but an event
    is hostile input, so anything that does not look like an id, or that the
    personal-data guard flags, is replaced by a placeholder."""
    if _PRINTABLE_ID.fullmatch(name) is None or redact(name)[1]:
        return "<unreadable>"
    return name


def unmapped_categories(event: Event, rules: PurposeRules) -> tuple[str, ...]:
    """Category ids in the event's Segment or RudderStack consent object that the
    rules do not map (sorted, at most :data:`UNMAPPED_LIMIT`), for reporting:
    an unmapped id is no signal, so without this a CMP's vocabulary the rules
    do not know would leave events unknown without a word."""
    names = [c for c in _category_preferences(event) if isinstance(c, str)]
    names += [consent_id for consent_id, _ in _consent_ids(event)]
    unknown = sorted({_reportable(n) for n in names if rules.category_purposes(n) is None})
    return tuple(unknown[:UNMAPPED_LIMIT])


def consent_mode_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """Google Consent Mode v2 fields in ``context.consentMode``
    (``"granted"``/``"denied"``); a denied field denies every purpose it maps to."""
    mode = _at(event.payload, "context", "consentMode")
    stated: dict[str, list[bool]] = {}
    if is_object(mode):
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


def _tcf(tc: TCString, rules: PurposeRules, source: str) -> list[Statement]:
    """A usable TC string's purposes, mapped through ``tcf_purposes``: consent
    bits for consent purposes, consent or legitimate interest for
    legitimate-interest purposes; captured when the user last updated their choice."""
    if not is_usable(tc):
        return []
    with_interest, consented = effective_purposes(tc), consented_purposes(tc)
    stated: dict[str, list[bool]] = {}
    for tcf_purpose, purposes in rules.tcf_purposes.items():
        for purpose in purposes:
            # A legitimate-interest signal only speaks for a purpose whose legal basis
            # is legitimate interest; a consent purpose needs the consent bit.
            defined = rules.purposes.get(purpose)
            basis = defined.legal_basis if defined is not None else "consent"
            effective = with_interest if basis == "legitimate_interest" else consented
            _map(stated, (purpose,), effective.get(tcf_purpose, False))
    return [Statement(purpose, all(values), tc.last_updated, source)
            for purpose, values in stated.items()]


def tcf_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """An IAB TCF v2.2 TC string in ``context.consent.tcfString``. A malformed
    string is no signal (the event is treated as carrying none)."""
    text = _at(event.payload, "context", "consent", "tcfString")
    if not isinstance(text, str):
        return []
    try:
        return _tcf(decode_tcf(text), rules, "tcf")
    except ConsentStringError:
        return []


def gpp_statements(event: Event, rules: PurposeRules) -> list[Statement]:
    """An IAB GPP string in ``context.consent.gppString``: its ``tcfeuv2``
    section through the TCF mapping; its ``usnat`` section's sale, sharing and
    targeted-advertising opt-outs (1 = opted out, 2 = did not) and GPC
    subsection as statements about ``advertising``. Malformed: no signal."""
    text = _at(event.payload, "context", "consent", "gppString")
    if not isinstance(text, str):
        return []
    try:
        gpp = decode_gpp(text)
    except ConsentStringError:
        return []
    found: list[Statement] = []
    for section in gpp.sections:
        if isinstance(section.decoded, TCString):
            found.extend(_tcf(section.decoded, rules, "gpp"))
        elif isinstance(section.decoded, UsNat):
            usnat = section.decoded
            choices = (usnat.sale_opt_out, usnat.sharing_opt_out,
                       usnat.targeted_advertising_opt_out)
            if 1 in choices or usnat.gpc:
                found.append(Statement(ADVERTISING, False, event.timestamp, "gpp"))
            elif all(choice == 2 for choice in choices):
                found.append(Statement(ADVERTISING, True, event.timestamp, "gpp"))
    return found


READERS = ((segment_statements, "consent"), (rudderstack_statements, "consentManagement"),
           (consent_mode_statements, "consentMode"), (tcf_statements, "consent"),
           (gpp_statements, "consent"))
"""The readers of in-event consent objects mapped through ``purposes.yaml``, each
with the key of ``context`` it reads: without that key it has nothing to find."""


def in_event_statements(event: Event, rules: PurposeRules,
                        honours_gpc: bool) -> list[Statement]:
    """Every statement the event carries about its subject's consent."""
    found = gpc_statements(event, honours_gpc)
    context = event.payload.get("context")
    if not is_object(context):
        return found
    for read, key in READERS:
        if key in context:
            found.extend(read(event, rules))
    return found
