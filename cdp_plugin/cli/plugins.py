"""`cdp-plugin plugins`: which plugins a pipeline would load, and the hooks each implements."""

from __future__ import annotations

import argparse

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.manager import blocked_names, make_plugin_manager, plugin_names


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plugins", help="list the plugins that would be loaded",
        description="List the built-in and entry-point plugins that would be loaded and their "
                    "hooks, then the blocked ones.")
    add_config_options(parser)
    parser.set_defaults(handler=plugins_command)


def plugins_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, needs_rules=False)
    pm = make_plugin_manager(blocked=config.blocked_plugins,
                             load_entrypoints=config.load_entrypoints)
    for name in plugin_names(pm):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(pm.get_plugin(name)) or [])
        print(f"{name}")
        for hook in hooks:
            print(f"    {hook}")
    for name in blocked_names(pm):
        print(f"{name} (blocked)")
    return 0
