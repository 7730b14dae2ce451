"""Subcommands added by plugins through the ``chatplug_cli_commands`` hook."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Collection
from typing import Any

from chatplug.plugins import PluginRegistry

__all__ = ["PLUGIN_RUN_ATTRIBUTE", "add_plugin_commands"]

#: Where the parsed arguments of a plugin command keep the function that runs it.
PLUGIN_RUN_ATTRIBUTE = "_chatplug_plugin_run"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def add_plugin_commands(subparsers: Any, registry: PluginRegistry, taken: Collection[str], secrets: list[str]) -> None:
    """Let every plugin add its commands to ``subparsers``, each plugin isolated from the others."""
    names = set(taken)
    caller = registry.hook.chatplug_cli_commands
    for impl in reversed(caller.get_hookimpls()):
        plugin_name = impl.plugin_name

        def add_command(
            name: str,
            *,
            help: str,
            run: Callable[[argparse.Namespace], int | None],
            description: str | None = None,
            _plugin: str = plugin_name,
        ) -> argparse.ArgumentParser:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"command name {name!r} must be lower-case letters, digits and '-'")
            if name in names:
                raise ValueError(f"command {name!r} already exists")
            if not callable(run):
                raise TypeError(f"run for command {name!r} must be a function taking the parsed arguments")
            parser: argparse.ArgumentParser = subparsers.add_parser(
                name, help=help, description=description or help, secrets=secrets
            )
            parser.set_defaults(**{PLUGIN_RUN_ATTRIBUTE: run})
            names.add(name)
            return parser

        try:
            impl.function(*[{"add_command": add_command}[arg] for arg in impl.argnames])
        except Exception as error:  # noqa: BLE001 - one broken plugin must not break the command
            # the command's logging is not set up yet (the parser is being built): write the warning directly
            sys.stderr.write(
                f"chatplug: warning: plugin {plugin_name!r} could not add its commands: {type(error).__name__}: "
                f"{error}\n"
            )
