"""``chatplug chat``: one prompt, or a multi-turn conversation with ``-i``."""

from __future__ import annotations

import argparse
import io
import os
import select
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from chatplug._cli._errors import UsageError
from chatplug._cli._render import ReplyPrinter, finish_notice, is_tty, print_json, print_json_line, usage_line
from chatplug._client import Client
from chatplug.errors import APIError, StreamInterruptedError
from chatplug.hookspecs import hookimpl
from chatplug.params import REQUEST_PARAMETERS as NAMED_PARAMS
from chatplug.plugins import PluginRegistry
from chatplug.provider import Provider
from chatplug.types import ChatCompletion

if TYPE_CHECKING:
    from chatplug._cli._record import TurnRecorder
    from chatplug._cli._waits import StatusLine
    from chatplug._streaming import Stream  # annotations only: --no-stream loads no stream module

__all__ = [
    "ChatSession",
    "EXIT_COMMANDS",
    "KeylessEndpoint",
    "choose_provider",
    "history_message",
    "make_client",
    "read_prompt",
    "request_options",
    "resolve_model_name",
    "valid_text",
]

#: Lines that end an interactive chat (as does Ctrl-D).
EXIT_COMMANDS = frozenset({"/exit", "/quit"})
MODEL_ENV = "CHATPLUG_MODEL"
#: ``-o`` keys the command sets itself, or that are per-call options rather than body fields.
_RESERVED = {
    "model": "use -m/--model",
    "messages": "the prompt and -s/--system make the messages",
    "stream": "use --no-stream",
    "timeout": "use --timeout",
    "extra_body": "give each body field as its own -o KEY=VALUE",
    "extra_headers": "chatplug chat cannot add request headers",
    "extra_query": "chatplug chat cannot add query parameters",
}
#: The per-call option ``-o`` passes to ``create()`` itself: drop what the model's catalog refuses.
DROP_OPTION = "drop_unsupported_params"
#: How long a PROMPT-plus-pipe call waits for piped input before saying what it is waiting for.
STDIN_NOTICE_AFTER = 2.0


def resolve_model_name(args: argparse.Namespace, continued: str | None = None) -> str:
    """``-m``, else the model of the conversation being continued, else
    ``$CHATPLUG_MODEL``, else the default set with ``chatplug models default``;
    a usage error when none is there."""
    model: str | None = args.model or continued or os.environ.get(MODEL_ENV)
    if not model:
        from chatplug._cli._settings import get_default_model

        model = get_default_model()
    if not model:
        raise UsageError(
            f"no model: pass -m MODEL, set {MODEL_ENV}, or set a default with 'chatplug models default MODEL'; "
            "'chatplug models' lists them"
        )
    return model


def _announce_wait(stdin: TextIO, stderr: TextIO | None) -> None:
    """When piped input is slow to come (or never ends), say on stderr what the command waits for."""
    if stderr is None:
        return
    try:
        ready, _, _ = select.select([stdin], [], [], STDIN_NOTICE_AFTER)
    except (OSError, ValueError, TypeError, io.UnsupportedOperation):
        return  # no file descriptor (a test's StringIO) or no select() on pipes (Windows): just read
    if not ready:
        stderr.write(
            "chatplug: waiting for the input piped to stdin, to append it to PROMPT "
            "(pass --no-stdin or '</dev/null' if nothing is piped)\n"
        )
        stderr.flush()


def read_prompt(
    argument: str | None, stdin: TextIO | None, *, no_stdin: bool = False, stderr: TextIO | None = None
) -> str:
    """The prompt: the argument, stdin when it is absent or ``-``, or the
    argument followed by whatever was piped in.

    With ``no_stdin`` stdin is never read: the argument is the whole prompt.
    Otherwise piped input next to an argument is read to its end; when it is
    slow to come, a note on ``stderr`` says so (an open pipe that is never
    closed would otherwise look like a hang).
    """
    if no_stdin:
        stdin = None
    if argument is None or argument == "-":
        if stdin is None or (argument is None and is_tty(stdin)):
            if no_stdin:
                raise UsageError("no prompt: --no-stdin needs a PROMPT argument")
            raise UsageError("no prompt: give PROMPT, pipe it on stdin, or use -i for a conversation")
        text = stdin.read()
    else:
        text = argument
        if stdin is not None and not is_tty(stdin):
            _announce_wait(stdin, stderr)
            piped = stdin.read()
            if piped.strip():
                text = f"{argument}\n\n{piped}"
    text = text.rstrip("\n")
    if not text.strip():
        raise UsageError("the prompt is empty")
    return valid_text(text, "the prompt")


def valid_text(text: str, what: str) -> str:
    """``text`` if it can be sent as UTF-8; a usage error naming the first bad byte otherwise.

    Python reads undecodable bytes (a Latin-1 file piped in) as lone
    surrogates; sent as is they would fail deep in the request's encoding.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        byte = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"character {bad!r}"
        raise UsageError(
            f"{what} is not valid UTF-8 ({byte} at character {error.start}); convert it first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text


def request_options(args: argparse.Namespace) -> dict[str, Any]:
    """``create()`` keyword arguments from the flags and ``-o`` pairs.

    Parameters the core names (``top_p``, ``stop``, ``seed``, ...) go as
    keywords, anything else (``thinking``, ``do_sample``, ...) into ``extra_body``;
    ``drop_unsupported_params`` is the one per-call option ``-o`` takes.
    """
    kwargs: dict[str, Any] = {}
    extra_body: dict[str, Any] = {}
    for key, value in args.options:
        if key in _RESERVED:
            raise UsageError(f"-o {key}=... is not allowed: {_RESERVED[key]}")
        if key == DROP_OPTION:  # a per-call option, not a body field: the way to act on a catalog refusal
            if not isinstance(value, bool):
                raise UsageError(f"-o {DROP_OPTION}= takes true or false, got {value!r}")
            kwargs[key] = value
        elif key in NAMED_PARAMS:
            kwargs[key] = value
        else:
            extra_body[key] = value
    if args.temperature is not None:
        kwargs["temperature"] = args.temperature
    if args.max_tokens is not None:
        kwargs["max_tokens"] = args.max_tokens
    if extra_body:
        kwargs["extra_body"] = extra_body
    return kwargs


#: The provider id of a plain OpenAI-compatible server reached with --base-url alone.
PLAIN_PROVIDER_ID = "openai-compatible"


class KeylessEndpoint:
    """A plugin that lets a plain ``--base-url`` server be called without a key
    (a local vLLM or Ollama) when no ``--api-key`` is given."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @hookimpl
    def chatplug_credentials(self, provider: Provider, api_key: str | None) -> Mapping[str, str] | None:
        """No auth header for this command's plain endpoint when no key was given."""
        if provider is self.provider and not api_key:
            return {}
        return None


def choose_provider(args: argparse.Namespace, registry: PluginRegistry, model: str) -> str | Provider:
    """The id of the provider the call goes to, or a :class:`Provider` record
    for a plain OpenAI-compatible server at ``--base-url``.

    ``-m provider/model`` naming another provider than ``--provider`` is a
    usage error. With ``--base-url``, no ``--provider`` and a model that no
    installed provider claims, the server at that URL is taken for a plain
    OpenAI-compatible one.
    """
    prefix, sep, rest = model.partition("/")
    named = prefix if sep and rest and prefix in registry.providers() else None
    if args.provider:
        if named is not None and named != args.provider:
            raise UsageError(
                f"-m {model} names provider {named!r} but --provider is {args.provider!r}: "
                f"drop one, or write -m {args.provider}/{rest}"
            )
        return str(args.provider)
    if args.base_url and named is None and not any(p.claims(model) for p in registry.providers().values()):
        return Provider(id=PLAIN_PROVIDER_ID, base_url=args.base_url, name="OpenAI-compatible server (--base-url)")
    return registry.resolve_model(model)[0].id


def make_client(
    args: argparse.Namespace,
    registry: PluginRegistry,
    provider: str | Provider,
    *,
    api_key: str | None = None,
    session_provider: bool = True,
) -> Client:
    """A client pinned to ``provider`` (see :func:`choose_provider`); ``api_key``
    (a stored key) is used when ``--api-key`` is not given.

    ``--base-url`` and ``--api-key`` were given for the provider the command
    started with; ``session_provider=False`` (another provider, reached with
    ``/model``) leaves both out, so that provider uses its own base URL and
    key, and no key goes to another provider's server.
    """
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return Client(
        provider=provider,
        api_key=(args.api_key if session_provider else None) or api_key,
        base_url=args.base_url if session_provider else None,
        max_retries=args.max_retries,
        registry=registry,
        **options,
    )


def history_message(completion: ChatCompletion) -> dict[str, Any] | None:
    """The reply as a history message, with ``reasoning_content`` kept (Kimi
    thinking models need it sent back); ``None`` when there is nothing to keep.

    The reply's ``tool_calls`` are left out: the command runs no tools, and an
    assistant turn with tool calls but no ``tool`` answers after it makes APIs
    reject every later request. A reply that only called tools has no text to
    keep, so that turn is dropped from the history.
    """
    if not completion.choices:
        return None
    reply = completion.choices[0].message
    content = reply.content if isinstance(reply.content, str) else ""
    if not content:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reply.reasoning_content:
        message["reasoning_content"] = reply.reasoning_content
    return message


class ChatSession:
    """Sends messages with one client and prints each reply as the flags ask.

    ``recorder`` (when logging is on) writes each turn to the conversation
    log; ``status`` shows retries and, on a terminal, the wait for the first
    token. ``history`` is a logged conversation being continued.
    """

    def __init__(
        self,
        client: Client,
        model: str,
        args: argparse.Namespace,
        *,
        stdout: TextIO,
        stderr: TextIO,
        report_error: Callable[[APIError], None],
        recorder: TurnRecorder | None = None,
        status: StatusLine | None = None,
        history: list[dict[str, Any]] | None = None,
        client_for: Callable[[str], Client] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.kwargs = request_options(args)
        self.stream = not args.no_stream
        self.as_json: bool = args.json
        self.jsonl: bool = getattr(args, "jsonl", False)
        self.show_reasoning = not args.no_reasoning
        self.show_usage: bool = args.usage
        if self.show_usage and self.stream and "stream_options" not in self.kwargs:
            self.kwargs["stream_options"] = {"include_usage": True}
        self.stdout = stdout
        self.stderr = stderr
        self.report_error = report_error
        self.system: str | None = args.system
        self.recorder = recorder
        self.status = status
        self.history: list[dict[str, Any]] = list(history or [])
        self.client_for = client_for

    def switch_model(self, model: str) -> None:
        """Use ``model`` from the next call on (a client for its provider when it is another one)."""
        if self.client_for is not None:
            self.client = self.client_for(model)
        self.model = model
        if self.recorder is not None:
            self.recorder.model = model

    def first_messages(self) -> list[dict[str, Any]]:
        """The history a conversation starts with: the system prompt, if any, and a continued conversation."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.history]

    def complete(self, messages: list[dict[str, Any]]) -> ChatCompletion:
        """Send ``messages``, print the reply, log the turn, return the final completion."""
        started = time.monotonic()
        if self.recorder is not None:
            self.recorder.begin()
        try:
            final = self._complete(messages)
        except BaseException as error:
            if self.recorder is not None:
                self.recorder.record(messages, self.kwargs, None, error, time.monotonic() - started)
            raise
        if self.recorder is not None:
            self.recorder.record(messages, self.kwargs, final, None, time.monotonic() - started)
        return final

    def _waiting(self) -> None:
        if self.status is not None:
            self.status.start(f"chatplug: waiting for {self.model}")

    def _waited(self) -> None:
        if self.status is not None:
            self.status.stop()

    def _complete(self, messages: list[dict[str, Any]]) -> ChatCompletion:
        printer = ReplyPrinter(self.stdout, self.stderr, show_reasoning=self.show_reasoning)
        final: ChatCompletion
        self._waiting()
        try:
            if self.stream:
                final = self._stream(messages, printer)
            else:
                final = self.client.chat.completions.create(model=self.model, messages=messages, **self.kwargs)
                self._waited()
                if self.jsonl:
                    print_json_line(final, self.stdout)
                elif not self.as_json:
                    printer.completion(final)
        except StreamInterruptedError as error:
            self._waited()
            if self.as_json and error.partial is not None:
                print_json(error.partial, self.stdout)  # nothing the server sent is lost
            raise
        finally:
            self._waited()
        if self.as_json:
            print_json(final, self.stdout)
        notice = finish_notice(final)
        if notice:
            self.stderr.write(f"chatplug: {notice}\n")
        if self.show_usage:
            self.stderr.write(usage_line(final.usage) + "\n")
        self.stderr.flush()
        return final

    def _stream(self, messages: list[dict[str, Any]], printer: ReplyPrinter) -> ChatCompletion:
        stream: Stream = self.client.chat.completions.create(
            model=self.model, messages=messages, stream=True, **self.kwargs
        )
        self._waited()
        quiet = self.as_json or self.jsonl
        with stream:
            try:
                for chunk in stream:
                    if self.jsonl:
                        print_json_line(chunk, self.stdout)
                    if quiet:
                        continue
                    for choice in chunk.choices:
                        if choice.index == 0:
                            printer.reasoning(choice.delta.reasoning_content)
                            printer.content(choice.delta.content)
            finally:
                if not quiet:
                    printer.end()
            return stream.get_final_completion()

    def run_once(self, prompt: str) -> int:
        """One prompt, one reply."""
        self.complete([*self.first_messages(), {"role": "user", "content": prompt}])
        return 0

    def run_interactive(self, first_prompt: str | None, stdin: TextIO | None) -> int:
        """A conversation with slash commands (see :mod:`._interactive`)."""
        from chatplug._cli._interactive import InteractiveChat

        return InteractiveChat(self, stdin).run(first_prompt)


def _enable_line_editing() -> None:
    try:
        import readline  # noqa: F401 - importing it gives input() history and editing
    except ImportError:
        pass


def _read_line(stdin: TextIO | None, tty: bool, stdout: TextIO) -> str | None:
    """The next line the user typed, or ``None`` at end of input (Ctrl-D)."""
    if stdin is None:
        return None
    if tty and stdin is sys.stdin:
        try:
            return input("> ")
        except EOFError:
            stdout.write("\n")
            stdout.flush()
            return None
    line = stdin.readline()
    if not line:
        return None
    return line.rstrip("\n")
