"""The command line: subcommands, options and ``-o key=value`` parsing (stdlib argparse)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from chatplug import __version__

__all__ = ["BUILTIN_COMMANDS", "build_parser", "parse_option", "redact_arguments", "secret_arguments"]

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


def _whole_number(text: str) -> int:
    """A whole number >= 0 (``--max-retries 0`` turns retries off)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """A whole number >= 1 (``--max-tokens 0`` asks for an empty reply)."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    """A number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


#: An option whose value is a secret, even when misspelt: ``--api-key``, ``--apikey``, ``--api_key``, ``--token``.
_SECRET_OPTION = re.compile(r"--?(api|key|token|secret|auth|password)", re.IGNORECASE)
#: A word that looks like a key: ``sk-...``, or a long run of letters and digits mixed.
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9._-]{6,}|(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{16,}")
REDACTED = "***"


def secret_arguments(argv: Sequence[str]) -> list[str]:
    """The command-line words that may be secrets: the value after (or in) an
    ``--api*``/``--key``/``--token``-like option, and anything that looks like a key."""
    found: list[str] = []
    after_secret_option = False
    for word in argv:
        if after_secret_option and not word.startswith("-"):
            found.append(word)
        after_secret_option = False
        if _SECRET_OPTION.match(word):
            _, sep, value = word.partition("=")
            if sep:
                found.append(value)
            else:
                after_secret_option = True
        found.extend(match.group(0) for match in _KEY_LIKE.finditer(word))
    return [word for word in found if word]


def redact_arguments(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret-looking command-line word replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _KEY_LIKE.sub(REDACTED, text)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose error messages never echo a key given on the command line."""

    def __init__(self, *args: Any, secrets: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secrets: list[str] = secrets if secrets is not None else []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.secrets.extend(secret_arguments(sys.argv[1:] if args is None else list(args)))
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {redact_arguments(message, self.secrets)}\n")


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--provider", metavar="ID", help="use this provider (default: the one that claims the model)")
    group.add_argument("--base-url", metavar="URL", help="send requests here instead of the provider's base URL")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key to use instead of the provider's env var (prefer the env var: arguments show in 'ps')",
    )
    group.add_argument("--max-retries", type=_whole_number, default=2, metavar="N", help="retries (default: 2)")
    group.add_argument(
        "--timeout", type=_positive_float, metavar="SECONDS", help="request timeout, > 0 (default: 600)"
    )
    group.add_argument("--debug", action="store_true", help="log requests (key redacted) and show tracebacks")


def _add_chat(subparsers: Any, secrets: list[str]) -> None:
    chat = subparsers.add_parser(
        "chat",
        secrets=secrets,
        help="send a prompt and stream the reply",
        description=(
            "Send PROMPT to MODEL and stream the reply. Without PROMPT, or with '-', the prompt is read from "
            "stdin; input piped next to PROMPT is appended to it (--no-stdin or '</dev/null' turns that off). "
            "With -i, hold a multi-turn conversation."
        ),
    )
    chat.add_argument("prompt", nargs="?", metavar="PROMPT", help="the prompt; '-' or absent: read stdin")
    chat.add_argument(
        "-m", "--model", help="model name, e.g. glm-4.6 or kimi/kimi-k2-0905-preview (default: $CHATPLUG_MODEL)"
    )
    chat.add_argument("-i", "--interactive", action="store_true", help="multi-turn chat; /exit or Ctrl-D leaves")
    chat.add_argument(
        "--no-stdin",
        action="store_true",
        help="never read stdin: use PROMPT alone (for loops and scripts whose stdin is not meant for chatplug)",
    )
    chat.add_argument("-s", "--system", metavar="TEXT", help="system prompt")
    chat.add_argument(
        "-c", "--continue", dest="continue_last", action="store_true",
        help="continue the last logged conversation (its history is sent, its model used unless -m is given)",
    )
    chat.add_argument("--cid", metavar="ID", help="continue the logged conversation with this id")
    chat.add_argument(
        "--no-log", action="store_true", help="do not write this exchange to the log (also: CHATPLUG_NO_LOG=1)"
    )
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
    output = chat.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true",
        help="print the final completion as OpenAI wire JSON (a cut stream prints its partial completion, exit 1)",
    )
    output.add_argument("--jsonl", action="store_true", help="print each stream chunk as one JSON line")
    chat.add_argument("--no-reasoning", action="store_true", help="do not show the model's reasoning")
    chat.add_argument(
        "-u", "--usage", action="store_true",
        help="print token usage on stderr (a stream asks for it with stream_options.include_usage)",
    )
    _add_connection_options(chat)


def build_parser(add_commands: Callable[[Any, list[str]], None] | None = None) -> argparse.ArgumentParser:
    """The ``chatplug`` argument parser with its ``chat``, ``providers``, ``models``,
    ``logs`` and ``keys`` commands; ``add_commands(subparsers, secrets)`` adds more (plugins')."""
    secrets: list[str] = []
    parser = _Parser(prog="chatplug", description=DESCRIPTION, epilog=EPILOG, secrets=secrets)
    parser.add_argument("--version", action="version", version=f"chatplug {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_chat(subparsers, secrets)
    providers = subparsers.add_parser(
        "providers",
        secrets=secrets,
        help="list installed providers, their configuration and failed plugins",
        description="One row per installed provider. API keys are never shown, only whether they are set.",
    )
    providers.add_argument("--debug", action="store_true", help="show plugin loading in detail")
    providers.add_argument("--json", action="store_true", help="print the providers and failed plugins as JSON")
    models = subparsers.add_parser(
        "models",
        secrets=secrets,
        help="list the models each provider claims",
        description="Models each provider claims.",
    )
    models.add_argument("--provider", metavar="ID", help="only this provider")
    models.add_argument("--debug", action="store_true", help="show plugin loading in detail")
    models.add_argument("--json", action="store_true", help="print the models as JSON")
    models_commands = models.add_subparsers(dest="models_command", metavar="[default]")
    default = models_commands.add_parser(
        "default",
        secrets=secrets,
        help="show or set the default model",
        description="Show the default model, or set it. -m and $CHATPLUG_MODEL win over it.",
    )
    default.add_argument("default_model", nargs="?", metavar="MODEL", help="the new default model")
    default.add_argument("--clear", action="store_true", help="remove the default model")
    _add_logs(subparsers, secrets)
    _add_keys(subparsers, secrets)
    if add_commands is not None:
        add_commands(subparsers, secrets)
    return parser


#: The commands chatplug itself defines; plugin commands may not take these names.
BUILTIN_COMMANDS = frozenset({"chat", "providers", "models", "logs", "keys"})


def _add_logs(subparsers: Any, secrets: list[str]) -> None:
    logs = subparsers.add_parser(
        "logs",
        secrets=secrets,
        help="show logged exchanges, or where the log is",
        description="The latest exchanges of the conversation log, oldest first. 'chatplug logs path' prints "
        "where the SQLite database is.",
    )
    logs.add_argument("-n", "--count", type=_whole_number, default=3, metavar="N",
                      help="how many exchanges (default: 3; 0: all)")
    logs.add_argument("-q", "--query", metavar="TEXT",
                      help="only exchanges whose prompt, system prompt, reasoning or reply contains TEXT")
    logs.add_argument("--cid", metavar="ID", help="only this conversation")
    logs.add_argument("-m", "--model", metavar="MODEL", help="only this model (name or provider/name)")
    logs.add_argument("--json", action="store_true", help="print the exchanges as JSON")
    commands = logs.add_subparsers(dest="logs_command", metavar="[path]")
    commands.add_parser("path", secrets=secrets, help="print the path of the log database")


def _add_keys(subparsers: Any, secrets: list[str]) -> None:
    keys = subparsers.add_parser(
        "keys",
        secrets=secrets,
        help="store API keys for the command",
        description="API keys for the chatplug command, in a file only you can read. A key given with --api-key "
        "or in the provider's environment variable wins over a stored one. The library never reads this file.",
    )
    commands = keys.add_subparsers(dest="keys_command", metavar="{set,list,path,remove}")
    commands.required = True
    store = commands.add_parser(
        "set", secrets=secrets, help="store the key of PROVIDER (typed hidden, or read from stdin)"
    )
    store.add_argument("provider", metavar="PROVIDER", help="the provider id, e.g. glm or kimi")
    commands.add_parser("list", secrets=secrets, help="the providers with a stored key (never the keys)")
    commands.add_parser("path", secrets=secrets, help="print the path of the key file")
    remove = commands.add_parser("remove", secrets=secrets, help="forget the key of PROVIDER")
    remove.add_argument("provider", metavar="PROVIDER")
