"""The pluggy markers. ``hookimpl`` is public; the spec marker stays private to the package."""

from __future__ import annotations

import pluggy

NAME = "cdp_plugin"

hookimpl = pluggy.HookimplMarker(NAME)
"""Decorate a plugin's functions with this to implement ``cdp_*`` hooks."""

_hookspec = pluggy.HookspecMarker(NAME)
