"""cdp_plugin: consent- and preference-aware hooks for a customer data platform's ingest path."""

from __future__ import annotations

from cdp_plugin.markers import NAME, hookimpl

__all__ = ["NAME", "hookimpl"]

__version__ = "0.1.0"
