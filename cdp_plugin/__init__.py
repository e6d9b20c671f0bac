"""cdp_plugin: consent- and preference-aware hooks for a customer data platform's ingest path."""

from __future__ import annotations

NAME = "cdp_plugin"
"""The one name: pluggy project name, PluginManager name and entry-point group."""

__version__ = "0.1.0"
