"""Behavioural segmentation: incremental features, real-time tags, purpose limitation,
governance.

* :mod:`~cdp_plugin.segments.features` folds events into bounded per-subject state;
  :mod:`~cdp_plugin.segments.view` derives what conditions see at a given time;
* :mod:`~cdp_plugin.segments.evaluation` turns the rules into memberships with
  explanations; :mod:`~cdp_plugin.segments.governance` decides what is activated
  and keeps size and churn per day;
* changes come from events (:mod:`~cdp_plugin.segments.realtime`), from time
  (:mod:`~cdp_plugin.segments.tick`) and from consent
  (:mod:`~cdp_plugin.segments.consent`);
* :mod:`~cdp_plugin.segments.access` explains, exports and erases one subject's
  profile; the host's consent changes, ticks, access and erasure requests
  reach profiles only through the segmentation stage's hooks.

The package imports nothing from :mod:`cdp_plugin.synthetic` (the demo generator): the
stream with known memberships that checks the default segments lives with the tests.
"""

from __future__ import annotations

from cdp_plugin.segments.consent import (
    on_consent_changed,
    on_consent_granted,
    on_consent_withdrawn,
)
from cdp_plugin.segments.realtime import on_event
from cdp_plugin.segments.tick import tick

__all__ = ["on_consent_changed", "on_consent_granted", "on_consent_withdrawn", "on_event", "tick"]
