"""The ``chatplug`` command: chat with any installed provider from a shell.

::

    chatplug chat "Why is the sky blue?" -m glm-4.6
    echo "Summarise this" | chatplug chat -m kimi/kimi-k2-0905-preview
    chatplug chat -i -m glm-4.6
    chatplug providers
    chatplug models --provider kimi

Exit codes: 0 success, 1 API or network error, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

from chatplug._cli._chat import (
    ChatSession,
    KeylessEndpoint,
    choose_provider,
    make_client,
    read_prompt,
    request_options,
    resolve_model_name,
)
from chatplug._cli._debug import Redactor, RequestLogger, configure_logging
from chatplug._cli._errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    error_line,
    exit_code,
    one_line,
)
from chatplug._cli._listing import print_models, print_providers
from chatplug._cli._parser import build_parser
from chatplug.errors import ChatplugError
from chatplug.plugins import PluginRegistry, default_registry

__all__ = ["main"]

DEBUG_PLUGIN_NAME = "chatplug.cli.debug"
KEYLESS_PLUGIN_NAME = "chatplug.cli.keyless-endpoint"


class _Command:
    """One run of the command: parsed arguments, streams, registry and redaction."""

    def __init__(self, args: argparse.Namespace, registry: PluginRegistry) -> None:
        self.args = args
        self.registry = registry
        self.stdin: TextIO | None = sys.stdin
        self.stdout: TextIO = sys.stdout
        self.stderr: TextIO = sys.stderr
        self.debug: bool = getattr(args, "debug", False)
        self.redact = Redactor([getattr(args, "api_key", None)])

    def run(self) -> int:
        # `providers` lists failed plugins itself; every other command shows them as warnings
        restore_logging = configure_logging(
            self.redact, debug=self.debug, quiet_plugin_warnings=self.args.command == "providers"
        )
        try:
            self.redact.add_provider_keys(self.registry)
            if self.args.command == "providers":
                print_providers(self.registry, self.stdout)
                return 0
            if self.args.command == "models":
                print_models(self.registry, self.stdout, self.args.provider)
                return 0
            return self.chat()
        finally:
            restore_logging()

    def chat(self) -> int:
        args = self.args
        model = resolve_model_name(args)
        request_options(args)  # a bad -o is a usage error before anything else is looked up
        if args.interactive:  # stdin carries the next turns; the argument is only the first
            if args.no_stdin:
                raise UsageError("-i reads the conversation from stdin; it cannot be used with --no-stdin")
            prompt = args.prompt if args.prompt not in (None, "-") else None
        else:
            prompt = read_prompt(args.prompt, self.stdin, no_stdin=args.no_stdin, stderr=self.stderr)
        provider = choose_provider(args, self.registry, model)
        # plugins for this run only: registered in the process-wide registry, removed at the end
        plugins: list[tuple[object, str]] = []
        if self.debug:
            plugins.append((RequestLogger(), DEBUG_PLUGIN_NAME))
        if not isinstance(provider, str):
            plugins.append((KeylessEndpoint(provider), KEYLESS_PLUGIN_NAME))
        registered: list[object] = []
        try:
            for plugin, name in plugins:
                self.registry.register(plugin, name)
                registered.append(plugin)
            with make_client(args, self.registry, provider) as client:
                session = ChatSession(
                    client, model, args, stdout=self.stdout, stderr=self.stderr, report_error=self.report
                )
                if args.interactive:
                    return session.run_interactive(prompt, self.stdin)
                assert prompt is not None
                return session.run_once(prompt)
        finally:
            for plugin in registered:
                self.registry.unregister(plugin)

    def report(self, error: BaseException) -> None:
        """Print ``error`` as one line on stderr (with the traceback under --debug)."""
        self.stdout.flush()
        if self.debug:
            self.stderr.write(self.redact("".join(traceback.format_exception(error))))
        if isinstance(error, ChatplugError):
            line = error_line(error, self.registry, key_given=bool(getattr(self.args, "api_key", None)))
        else:
            line = f"chatplug: internal error: {type(error).__name__}: {error}"
            if not self.debug:
                line += " (run with --debug for the traceback)"
            line = one_line(line)
        self.stderr.write(self.redact(line) + "\n")
        self.stderr.flush()


def _interrupted(stdout: TextIO) -> int:
    try:
        if stdout.isatty():
            stdout.write("\n")
        stdout.flush()
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


def _broken_pipe() -> int:
    """stdout was closed early (``chatplug chat ... | head``): stop quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chatplug`` command; return its exit code.

    ``argv`` defaults to ``sys.argv[1:]``. A usage error exits with 2 (argparse
    prints the usage), an API or network error with 1, Ctrl-C with 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    command = _Command(args, default_registry())
    try:
        return command.run()
    except KeyboardInterrupt:
        return _interrupted(command.stdout)
    except BrokenPipeError:
        return _broken_pipe()
    except UsageError as error:
        command.stderr.write(f"chatplug: error: {error}\n")
        return EXIT_USAGE
    except ChatplugError as error:
        command.report(error)
        return exit_code(error)
    except Exception as error:  # noqa: BLE001 - a bug must still end with one clear line
        command.report(error)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
