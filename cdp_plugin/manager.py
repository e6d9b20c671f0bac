"""Building the plugin manager: specs, built-in stages, third-party entry points."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

from cdp_plugin import hookspecs
from cdp_plugin.errors import PluginError
from cdp_plugin.hookpolicy import CdpPluginManager
from cdp_plugin.markers import NAME

DEFAULT_PLUGINS: tuple[str, ...] = (
    "cdp_plugin.stages.consent",
    "cdp_plugin.stages.minimization",
    "cdp_plugin.stages.segmentation",
    "cdp_plugin.stages.activation",
    "cdp_plugin.stages.experiments",
    "cdp_plugin.stages.audit",
    "cdp_plugin.delivery.kinds",
)
"""The built-in stages, each an ordinary plugin module registered under its
module name; block one by that name to replace it."""


def make_plugin_manager(
    *,
    blocked: Iterable[str] = (),
    load_entrypoints: bool = True,
    extra_plugins: Iterable[object] = (),
) -> CdpPluginManager:
    """A fresh manager with the specs, the built-ins, extra plugins and the
    ``cdp_plugin`` entry points, minus the ``blocked`` names.

    Raises :class:`PluginError` naming an entry point that fails to load, and
    pluggy's ``PluginValidationError`` for an implementation that matches no
    spec (``check_pending``).
    """
    pm = CdpPluginManager()
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    for plugin in extra_plugins:
        name = plugin_name(plugin)
        if not pm.is_blocked(name):
            pm.register(plugin, name=name if not pm.has_plugin(name) else None)
    if load_entrypoints:
        _load_entrypoints(pm)
    pm.check_pending()
    return pm


def plugin_name(plugin: object) -> str:
    """A readable name for a plugin object: a module's or class's name, else its class's."""
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__name__


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    for ep in entry_points(group=NAME):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(ep.name, "load", exc) from exc
        pm.register(plugin, name=ep.name)


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the loaded plugins, in registration order; blocked names are not
    among them (pluggy keeps a blocked name registered to None)."""
    return [name for name, plugin in pm.list_name_plugin() if plugin is not None]


def blocked_names(pm: pluggy.PluginManager) -> list[str]:
    """Names blocked from loading, in the order they were blocked."""
    return [name for name, plugin in pm.list_name_plugin() if plugin is None]
