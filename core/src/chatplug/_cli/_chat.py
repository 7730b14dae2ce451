"""``chatplug chat``: one prompt, or a multi-turn conversation with ``-i``."""

from __future__ import annotations

import argparse
import io
import os
import select
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from chatplug._cli._errors import EXIT_ERROR, UsageError
from chatplug._cli._render import ReplyPrinter, finish_notice, is_tty, print_json, usage_line
from chatplug._client import Client
from chatplug._streaming import Stream
from chatplug.errors import APIError
from chatplug.hookspecs import hookimpl
from chatplug.params import REQUEST_PARAMETERS as NAMED_PARAMS
from chatplug.plugins import PluginRegistry
from chatplug.provider import Provider
from chatplug.types import ChatCompletion

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
#: How long a PROMPT-plus-pipe call waits for piped input before saying what it is waiting for.
STDIN_NOTICE_AFTER = 2.0


def resolve_model_name(args: argparse.Namespace) -> str:
    """``-m``, else ``$CHATPLUG_MODEL``; a usage error when neither is given."""
    model: str | None = args.model or os.environ.get(MODEL_ENV)
    if not model:
        raise UsageError(f"no model: pass -m MODEL (or set {MODEL_ENV}); 'chatplug models' lists them")
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
    return text


def request_options(args: argparse.Namespace) -> dict[str, Any]:
    """``create()`` keyword arguments from the flags and ``-o`` pairs.

    Parameters the core names (``top_p``, ``stop``, ``seed``, ...) go as
    keywords, anything else (``thinking``, ``do_sample``, ...) into ``extra_body``.
    """
    kwargs: dict[str, Any] = {}
    extra_body: dict[str, Any] = {}
    for key, value in args.options:
        if key in _RESERVED:
            raise UsageError(f"-o {key}=... is not allowed: {_RESERVED[key]}")
        if key in NAMED_PARAMS:
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


def make_client(args: argparse.Namespace, registry: PluginRegistry, provider: str | Provider) -> Client:
    """A client pinned to ``provider`` (see :func:`choose_provider`)."""
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return Client(
        provider=provider,
        api_key=args.api_key,
        base_url=args.base_url,
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
    """Sends messages with one client and prints each reply as the flags ask."""

    def __init__(
        self,
        client: Client,
        model: str,
        args: argparse.Namespace,
        *,
        stdout: TextIO,
        stderr: TextIO,
        report_error: Callable[[APIError], None],
    ) -> None:
        self.client = client
        self.model = model
        self.kwargs = request_options(args)
        self.stream = not args.no_stream
        self.as_json: bool = args.json
        self.show_reasoning = not args.no_reasoning
        self.show_usage: bool = args.usage
        self.stdout = stdout
        self.stderr = stderr
        self.report_error = report_error
        self.system: str | None = args.system

    def first_messages(self) -> list[dict[str, Any]]:
        """The history a conversation starts with: the system prompt, if any."""
        return [{"role": "system", "content": self.system}] if self.system else []

    def complete(self, messages: list[dict[str, Any]]) -> ChatCompletion:
        """Send ``messages``, print the reply, return the final completion."""
        printer = ReplyPrinter(self.stdout, self.stderr, show_reasoning=self.show_reasoning)
        final: ChatCompletion
        if self.stream:
            final = self._stream(messages, printer)
        else:
            final = self.client.chat.completions.create(
                model=self.model, messages=messages, **self.kwargs
            )
            if not self.as_json:
                printer.completion(final)
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
        with stream:
            try:
                for chunk in stream:
                    if self.as_json:
                        continue
                    for choice in chunk.choices:
                        if choice.index == 0:
                            printer.reasoning(choice.delta.reasoning_content)
                            printer.content(choice.delta.content)
            finally:
                if not self.as_json:
                    printer.end()
            return stream.get_final_completion()

    def run_once(self, prompt: str) -> int:
        """One prompt, one reply."""
        self.complete([*self.first_messages(), {"role": "user", "content": prompt}])
        return 0

    def run_interactive(self, first_prompt: str | None, stdin: TextIO | None) -> int:
        """A conversation kept in memory until ``/exit``, ``/quit`` or end of input.

        An API error ends only the turn it happened in; the conversation goes on
        without that turn. Returns 0, or 1 when any turn failed.
        """
        messages = self.first_messages()
        failed = False
        tty = is_tty(stdin)
        if tty:
            _enable_line_editing()
            self.stderr.write(f"chatplug: chatting with {self.model}; /exit or Ctrl-D to leave\n")
            self.stderr.flush()
        pending = first_prompt
        while True:
            if pending is not None:
                text, pending = pending, None
            else:
                line = _read_line(stdin, tty, self.stdout)
                if line is None:
                    break
                text = line
            if text.strip() in EXIT_COMMANDS:
                break
            if not text.strip():
                continue
            messages.append({"role": "user", "content": text})
            try:
                final = self.complete(messages)
            except APIError as error:
                messages.pop()
                self.report_error(error)
                failed = True
                continue
            reply = history_message(final)
            if reply is None:
                messages.pop()  # nothing to keep (a tool call only): the history stays valid without the turn
                self.stderr.write("chatplug: this turn is left out of the conversation (no text in the reply)\n")
                self.stderr.flush()
            else:
                messages.append(reply)
        return EXIT_ERROR if failed else 0


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
