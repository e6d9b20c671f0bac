"""What the host adds to every forwarded payload, after minimization, so the
downstream can route and enforce consent itself, as Segment and RudderStack do:

* ``integrations``: the event's routing flags, only ``name: true|false``
  entries with a plain name (letters, digits, space and ``._()-``, at most
  64 characters; at most 100 entries). Object values (integration-specific
  options, which can carry identifiers) and anything else are left out.
* ``context.consent.categoryPreferences``: the consent the plugin resolved
  for the event, purpose name to true (granted) or false (denied); unknown
  purposes are left out. The event's own consent signals (CMP strings,
  category lists) never pass: this is the plugin's minimized view of them.

The time field the event was dated by (``timestamp``) is kept by the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cdp_plugin.events import is_object
from cdp_plugin.types import ConsentState, ConsentView

MAX_INTEGRATIONS = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,63}")


def routing_flags(raw: object) -> dict[str, bool]:
    """The ``integrations`` entries that may pass (see the module doc)."""
    if not is_object(raw):
        return {}
    flags: dict[str, bool] = {}
    for name, value in raw.items():
        if len(flags) >= MAX_INTEGRATIONS:
            break
        if isinstance(name, str) and type(value) is bool and _NAME.fullmatch(name):
            flags[name] = value
    return flags


def consent_preferences(consent: ConsentView) -> dict[str, bool]:
    """The resolved purposes as Segment's ``categoryPreferences``, sorted by name."""
    return {name: state is ConsentState.GRANTED for name, state in sorted(consent.purposes.items())
            if state is not ConsentState.UNKNOWN}


def annotated(payload: Mapping[str, Any], event: Mapping[str, Any],
              consent: ConsentView) -> dict[str, Any]:
    """``payload`` with ``integrations`` and ``context.consent`` set as the module
    doc says (a payload's own values for them are replaced)."""
    out = dict(payload)
    flags = routing_flags(event.get("integrations"))
    if flags:
        out["integrations"] = flags
    else:
        out.pop("integrations", None)
    context = out.get("context")
    context = dict(context) if is_object(context) else {}
    context["consent"] = {"categoryPreferences": consent_preferences(consent)}
    out["context"] = context
    return out
