"""The ``chatplug`` command: chat with any installed provider from a shell.

::

    chatplug chat "Why is the sky blue?" -m glm-4.6
    echo "Summarise this" | chatplug chat -m kimi/kimi-k2-0905-preview
    chatplug chat -i -m glm-4.6
    chatplug chat -c "And in French?"
    chatplug providers
    chatplug models --provider kimi
    chatplug logs -n 5
    chatplug keys set glm

Exit codes: 0 success, 1 API or network error, 2 usage error, 130 interrupted.

Plugins add commands with the ``chatplug_cli_commands`` hook (see
:class:`AddCommand`). The library never reads the command's key store; a
program that wants a stored key asks for it with :func:`stored_api_key`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any, Protocol, TextIO

from chatplug._cli._chat import (
    ChatSession,
    KeylessEndpoint,
    choose_provider,
    make_client,
    read_prompt,
    request_options,
    resolve_model_name,
    valid_text,
)
from chatplug._cli._debug import Redactor, RequestLogger, configure_logging
from chatplug._cli._errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
    error_line,
    exit_code,
    one_line,
)
from chatplug._cli._listing import print_models, print_providers
from chatplug._cli._parser import BUILTIN_COMMANDS, build_parser
from chatplug._cli._waits import RetryNotice, StatusLine
from chatplug.errors import ChatplugError
from chatplug.plugins import PluginRegistry, default_registry
from chatplug.provider import Provider

__all__ = ["AddCommand", "main", "stored_api_key"]

DEBUG_PLUGIN_NAME = "chatplug.cli.debug"
KEYLESS_PLUGIN_NAME = "chatplug.cli.keyless-endpoint"
RETRY_PLUGIN_NAME = "chatplug.cli.retry-notice"
LOG_PLUGIN_NAME = "chatplug.cli.log-capture"


class AddCommand(Protocol):
    """What a ``chatplug_cli_commands`` implementation receives: a function that adds one subcommand.

    ``add_command(name, help=..., run=...)`` returns the command's
    :class:`argparse.ArgumentParser` (add arguments to it); ``run(args)`` runs
    the command and returns its exit code (``None`` is 0). ``description``
    (default: ``help``) is shown by ``chatplug NAME --help``.
    """

    def __call__(
        self,
        name: str,
        *,
        help: str,
        run: Callable[[argparse.Namespace], int | None],
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add the subcommand ``name``."""
        ...


def stored_api_key(provider: str) -> str | None:
    """The key stored with ``chatplug keys set PROVIDER``, or ``None``.

    ``chatplug.Client`` never reads the command's key store by itself; a
    program that wants the stored key asks for it::

        client = chatplug.Client(provider="glm", api_key=stored_api_key("glm"))
    """
    from chatplug._cli._keys import KeyStore

    return KeyStore().get(provider)


class _Continued:
    """A logged conversation being continued with ``-c`` or ``--cid``."""

    def __init__(self, conversation_id: str, history: list[dict[str, Any]], model: str, system: str | None) -> None:
        self.conversation_id = conversation_id
        self.history = history
        self.model = model
        self.system = system


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
        self.key_from_store = False

    def run(self) -> int:
        # `providers` lists failed plugins itself; every other command shows them as warnings
        restore_logging = configure_logging(
            self.redact, debug=self.debug, quiet_plugin_warnings=self.args.command == "providers"
        )
        try:
            from chatplug._cli._plugin_commands import PLUGIN_RUN_ATTRIBUTE

            plugin_run = getattr(self.args, PLUGIN_RUN_ATTRIBUTE, None)
            if plugin_run is not None:
                code = plugin_run(self.args)
                return 0 if code is None else int(code)
            self.redact.add_provider_keys(self.registry)
            command = self.args.command
            if command == "providers":
                return self.providers()
            if command == "models":
                return self.models()
            if command == "logs":
                from chatplug._cli._commands import run_logs

                return run_logs(self.args, self.stdout)
            if command == "keys":
                from chatplug._cli._commands import run_keys

                return run_keys(self.args, self.stdin, self.stdout, self.stderr)
            return self.chat()
        finally:
            restore_logging()

    def providers(self) -> int:
        if self.args.json:
            from chatplug._cli._listing_json import print_json_value, providers_json

            print_json_value(providers_json(self.registry), self.stdout)
            return 0
        print_providers(self.registry, self.stdout)
        return 0

    def models(self) -> int:
        if self.args.models_command == "default":
            from chatplug._cli._commands import run_models_default

            return run_models_default(self.args, self.stdout, self.stderr)
        if self.args.json:
            from chatplug._cli._listing_json import models_json, print_json_value

            print_json_value(models_json(self.registry, self.args.provider), self.stdout)
            return 0
        print_models(self.registry, self.stdout, self.args.provider)
        return 0

    def continued(self) -> _Continued | None:
        """The conversation ``-c`` or ``--cid`` continues, read from the log."""
        args = self.args
        if not (args.continue_last or args.cid):
            return None
        if args.continue_last and args.cid:
            raise UsageError("-c and --cid both choose the conversation to continue; give one of them")
        from chatplug._cli._chat import PLAIN_PROVIDER_ID
        from chatplug._cli._log import ConversationLog, LogError, history_messages, log_path

        log = ConversationLog(log_path())
        try:
            conversation_id = args.cid or log.last_conversation_id()
            if conversation_id is None:
                raise UsageError(f"-c: there is no logged conversation to continue (log: {log.path})")
            exchanges = log.conversation(conversation_id)
        except LogError as error:
            raise CommandFailed(str(error)) from None
        if not exchanges:
            raise UsageError(f"--cid: no logged conversation has id {conversation_id!r}; 'chatplug logs' shows ids")
        last = exchanges[-1]
        provider = last.get("provider")
        if provider == PLAIN_PROVIDER_ID and not args.base_url and not args.model:
            raise UsageError(
                f"conversation {conversation_id} was with a plain OpenAI-compatible server (--base-url); "
                "pass --base-url URL again to continue it, or -m MODEL to continue with a provider"
            )
        model = last["model"] if not provider or provider == PLAIN_PROVIDER_ID else f"{provider}/{last['model']}"
        system = last.get("system")  # as the last turn left it: '/system' alone may have removed it
        return _Continued(conversation_id, history_messages(exchanges), model, system)

    def stored_key(self, provider: str | Provider, *, session_provider: bool = True) -> str | None:
        """The stored key for ``provider`` when neither --api-key (given for the session's
        provider only) nor its env var gives one."""
        if (session_provider and self.args.api_key) or not isinstance(provider, str):
            return None  # a plain --base-url server never gets a stored provider key
        record = self.registry.provider(provider)
        if any(os.environ.get(name) for name in record.api_key_env):
            return None
        from chatplug._cli._keys import KeyStore, KeyStoreError

        try:
            key = KeyStore().get(provider)
        except KeyStoreError as error:
            self.stderr.write(f"chatplug: warning: {error}\n")
            return None
        if key:
            self.redact.add(key)
            self.key_from_store = True
        return key

    def logging_enabled(self) -> bool:
        if self.args.no_log:
            return False
        from chatplug._cli._log import log_disabled

        return not log_disabled()

    def chat(self) -> int:
        args = self.args
        request_options(args)  # a bad -o is a usage error before anything else is looked up
        reconfigure = getattr(self.stdin, "reconfigure", None)
        if reconfigure is not None:  # bytes that are not UTF-8 reach valid_text(), which names them
            reconfigure(errors="surrogateescape")
        if args.system:
            valid_text(args.system, "the system prompt (-s)")
        continued = self.continued()
        model = resolve_model_name(args, continued.model if continued else None)
        if continued is not None and args.system is None:
            args.system = continued.system
        if args.interactive:  # stdin carries the next turns; the argument is only the first
            if args.no_stdin:
                raise UsageError("-i reads the conversation from stdin; it cannot be used with --no-stdin")
            prompt = args.prompt if args.prompt not in (None, "-") else None
        else:
            prompt = read_prompt(args.prompt, self.stdin, no_stdin=args.no_stdin, stderr=self.stderr)
        provider = choose_provider(args, self.registry, model)
        api_key = self.stored_key(provider)
        status = StatusLine(self.stderr)
        # plugins for this run only: registered in the process-wide registry, removed at the end
        plugins: list[tuple[object, str]] = [(RetryNotice(status, self.redact), RETRY_PLUGIN_NAME)]
        if self.debug:
            plugins.append((RequestLogger(), DEBUG_PLUGIN_NAME))
        if not isinstance(provider, str):
            plugins.append((KeylessEndpoint(provider), KEYLESS_PLUGIN_NAME))
        recorder = None
        if self.logging_enabled():
            from chatplug._cli._log import ConversationLog, log_path, new_conversation_id
            from chatplug._cli._record import TurnRecorder

            recorder = TurnRecorder(
                ConversationLog(log_path(), redact=self.redact),
                continued.conversation_id if continued else new_conversation_id(),
                provider=provider if isinstance(provider, str) else provider.id,
                model=model,
                stderr=self.stderr,
                redact=self.redact,
            )
            plugins.append((recorder.capture, LOG_PLUGIN_NAME))
        registered: list[object] = []
        try:
            for plugin, name in plugins:
                self.registry.register(plugin, name)
                registered.append(plugin)
            with ExitStack() as clients:
                client = clients.enter_context(make_client(args, self.registry, provider, api_key=api_key))
                by_provider = {provider if isinstance(provider, str) else "": client}

                def client_for(name: str) -> Any:
                    if not isinstance(provider, str):
                        # a plain --base-url session stays on that server, keyless: /model only renames the
                        # model, even one a provider claims, so no provider's key is ever sent there
                        return client
                    target = choose_provider(args, self.registry, name)
                    if not isinstance(target, str):  # a provider's key never goes to a plain server
                        self.registry.resolve_model(name)  # raises ModelNotFoundError, naming the providers
                        return client
                    if target not in by_provider:
                        key = self.stored_key(target, session_provider=False)
                        # --base-url and --api-key were given for the session's provider: another provider
                        # gets its own URL and key, so no key ever goes to another provider's server
                        by_provider[target] = clients.enter_context(
                            make_client(args, self.registry, target, api_key=key, session_provider=False)
                        )
                    if recorder is not None:
                        recorder.provider = target
                    return by_provider[target]

                session = ChatSession(
                    client, model, args, stdout=self.stdout, stderr=self.stderr, report_error=self.report,
                    recorder=recorder, status=status, history=continued.history if continued else None,
                    client_for=client_for,
                )
                if args.interactive:
                    return session.run_interactive(prompt, self.stdin)
                assert prompt is not None
                return session.run_once(prompt)
        finally:
            status.stop()
            for plugin in registered:
                self.registry.unregister(plugin)

    def report(self, error: BaseException) -> None:
        """Print ``error`` as one line on stderr (with the traceback under --debug)."""
        self.stdout.flush()
        if self.debug:
            self.stderr.write(self.redact("".join(traceback.format_exception(error))))
        if isinstance(error, ChatplugError):
            line = error_line(
                error,
                self.registry,
                key_given=bool(getattr(self.args, "api_key", None)),
                key_stored=self.key_from_store,
            )
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


def _may_name_a_plugin_command(words: Sequence[str]) -> bool:
    """Whether plugin commands must be loaded: for ``--help`` and any command chatplug does not define."""
    for word in words:
        if not word.startswith("-"):
            return word not in BUILTIN_COMMANDS
        if word == "--version":
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chatplug`` command; return its exit code.

    ``argv`` defaults to ``sys.argv[1:]``. A usage error exits with 2 (argparse
    prints the usage), an API or network error with 1, Ctrl-C with 130.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    registry = default_registry()
    add_commands = None
    if _may_name_a_plugin_command(words):
        from chatplug._cli._plugin_commands import add_plugin_commands

        def add_commands(subparsers: Any, secrets: list[str]) -> None:
            add_plugin_commands(subparsers, registry, BUILTIN_COMMANDS, secrets)

    parser = build_parser(add_commands)
    args = parser.parse_args(words)
    command = _Command(args, registry)
    try:
        return command.run()
    except KeyboardInterrupt:
        return _interrupted(command.stdout)
    except BrokenPipeError:
        return _broken_pipe()
    except UsageError as error:
        command.stderr.write(command.redact(f"chatplug: error: {error}") + "\n")
        return EXIT_USAGE
    except CommandFailed as error:
        command.stderr.write(command.redact(f"chatplug: error: {error}") + "\n")
        return EXIT_ERROR
    except ChatplugError as error:
        command.report(error)
        return exit_code(error)
    except Exception as error:  # noqa: BLE001 - a bug must still end with one clear line
        command.report(error)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
