"""The command line: subcommands, options and ``-o key=value`` parsing (stdlib argparse)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from chatplug._version import __version__

__all__ = ["build_parser", "parse_option"]

DESCRIPTION = "Chat with any installed chatplug provider from the terminal."
EPILOG = (
    "exit codes: 0 success, 1 API or network error, 2 usage error, 130 interrupted. "
    "Run 'chatplug COMMAND --help' for the options of a command."
)


def parse_option(text: str) -> tuple[str, Any]:
    """Parse one ``-o key=value``: the value as JSON when it parses, else as a string.

    ``-o thinking='{"type":"disabled"}'`` gives a dict, ``-o top_p=0.9`` a number,
    ``-o user=alice`` the string ``"alice"``.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--provider", metavar="ID", help="use this provider (default: the one that claims the model)")
    group.add_argument("--base-url", metavar="URL", help="send requests here instead of the provider's base URL")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key to use instead of the provider's env var (prefer the env var: arguments show in 'ps')",
    )
    group.add_argument("--max-retries", type=_positive_int, default=2, metavar="N", help="retries (default: 2)")
    group.add_argument("--timeout", type=float, metavar="SECONDS", help="request timeout (default: 600)")
    group.add_argument("--debug", action="store_true", help="log requests (key redacted) and show tracebacks")


def _add_chat(subparsers: Any) -> None:
    chat = subparsers.add_parser(
        "chat",
        help="send a prompt and stream the reply",
        description=(
            "Send PROMPT to MODEL and stream the reply. Without PROMPT, or with '-', the prompt is read from "
            "stdin; piped input is appended to PROMPT. With -i, hold a multi-turn conversation."
        ),
    )
    chat.add_argument("prompt", nargs="?", metavar="PROMPT", help="the prompt; '-' or absent: read stdin")
    chat.add_argument(
        "-m", "--model", help="model name, e.g. glm-4.6 or kimi/kimi-k2-0905-preview (default: $CHATPLUG_MODEL)"
    )
    chat.add_argument("-i", "--interactive", action="store_true", help="multi-turn chat; /exit or Ctrl-D leaves")
    chat.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    chat.add_argument(
        "--temperature", type=float, metavar="T", help="sampling temperature (checked against the provider's range)"
    )
    chat.add_argument("--max-tokens", type=_positive_int, metavar="N", help="most tokens the reply may use")
    chat.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="any other parameter, JSON-parsed when it parses, e.g. -o top_p=0.9 -o thinking='{\"type\":\"disabled\"}'",
    )
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole reply instead of streaming it")
    chat.add_argument("--json", action="store_true", help="print the final completion as OpenAI wire JSON")
    chat.add_argument("--no-reasoning", action="store_true", help="do not show the model's reasoning")
    chat.add_argument("-u", "--usage", action="store_true", help="print token usage on stderr")
    _add_connection_options(chat)


def build_parser() -> argparse.ArgumentParser:
    """The ``chatplug`` argument parser with its ``chat``, ``providers`` and ``models`` commands."""
    parser = argparse.ArgumentParser(prog="chatplug", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"chatplug {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_chat(subparsers)
    providers = subparsers.add_parser(
        "providers",
        help="list installed providers, their configuration and failed plugins",
        description="One row per installed provider. API keys are never shown, only whether they are set.",
    )
    providers.add_argument("--debug", action="store_true", help="show plugin loading in detail")
    models = subparsers.add_parser(
        "models", help="list the models each provider claims", description="Models each provider claims."
    )
    models.add_argument("--provider", metavar="ID", help="only this provider")
    models.add_argument("--debug", action="store_true", help="show plugin loading in detail")
    return parser
