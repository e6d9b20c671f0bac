"""`cdp-plugin plugins`: which plugins a pipeline would load, and the hooks each implements."""

from __future__ import annotations

import argparse

from cdp_plugin.cli.common import add_config_options, config_from_args
from cdp_plugin.manager import make_plugin_manager


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plugins", help="list the plugins that would be loaded",
        description="List built-in and entry-point plugins (minus blocked ones) and their hooks.")
    add_config_options(parser)
    parser.set_defaults(handler=plugins_command)


def plugins_command(args: argparse.Namespace) -> int:
    config = config_from_args(args, needs_rules=False)
    pm = make_plugin_manager(blocked=config.blocked_plugins,
                             load_entrypoints=config.load_entrypoints)
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        print(f"{name}")
        for hook in hooks:
            print(f"    {hook}")
    for name in config.blocked_plugins:
        print(f"{name} (blocked)")
    return 0
