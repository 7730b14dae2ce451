"""``chatplug chat``: one prompt, or a multi-turn conversation with ``-i``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from chatplug._cli._errors import UsageError
from chatplug._cli._render import ReplyPrinter, finish_notice, print_json, usage_line
from chatplug._client import Client
from chatplug._streaming import Stream
from chatplug.errors import APIError
from chatplug.params import REQUEST_PARAMETERS as NAMED_PARAMS
from chatplug.plugins import PluginRegistry
from chatplug.types import ChatCompletion

__all__ = ["ChatSession", "read_prompt", "request_options", "resolve_model_name", "EXIT_COMMANDS"]

#: Lines that end an interactive chat (as does Ctrl-D).
EXIT_COMMANDS = frozenset({"/exit", "/quit"})
MODEL_ENV = "CHATPLUG_MODEL"
#: ``-o`` keys the command sets itself.
_RESERVED = {
    "model": "-m/--model",
    "messages": "the prompt",
    "stream": "--no-stream",
}


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def resolve_model_name(args: argparse.Namespace) -> str:
    """``-m``, else ``$CHATPLUG_MODEL``; a usage error when neither is given."""
    model: str | None = args.model or os.environ.get(MODEL_ENV)
    if not model:
        raise UsageError(f"no model: pass -m MODEL (or set {MODEL_ENV}); 'chatplug models' lists them")
    return model


def read_prompt(argument: str | None, stdin: TextIO | None) -> str:
    """The prompt: the argument, stdin when it is absent or ``-``, or the
    argument followed by whatever was piped in."""
    if argument is None or argument == "-":
        if stdin is None or (argument is None and _is_tty(stdin)):
            raise UsageError("no prompt: give PROMPT, pipe it on stdin, or use -i for a conversation")
        text = stdin.read()
    else:
        text = argument
        if stdin is not None and not _is_tty(stdin):
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
            raise UsageError(f"-o {key}=... is not allowed: use {_RESERVED[key]}")
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


def make_client(args: argparse.Namespace, registry: PluginRegistry, model: str) -> Client:
    """A client pinned to ``--provider`` or to the provider that claims ``model``."""
    provider_id = args.provider or registry.resolve_model(model)[0].id
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    return Client(
        provider=provider_id,
        api_key=args.api_key,
        base_url=args.base_url,
        max_retries=args.max_retries,
        registry=registry,
        **options,
    )


def assistant_message(completion: ChatCompletion) -> dict[str, Any]:
    """The reply as a history message, with ``reasoning_content`` kept (Kimi
    thinking models need it sent back)."""
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    if completion.choices:
        reply = completion.choices[0].message
        message["content"] = reply.content or ""
        if reply.reasoning_content:
            message["reasoning_content"] = reply.reasoning_content
        if reply.tool_calls:
            message["tool_calls"] = [call.to_dict() for call in reply.tool_calls]
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
        without that turn.
        """
        messages = self.first_messages()
        tty = _is_tty(stdin)
        if tty:
            _enable_line_editing()
            self.stderr.write(f"chatplug: chatting with {self.model}; /exit or Ctrl-D to leave\n")
            self.stderr.flush()
        pending = first_prompt
        while True:
            if pending is not None:
                text, pending = pending, None
            else:
                line = _read_line(stdin, tty)
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
                continue
            messages.append(assistant_message(final))
        return 0


def _enable_line_editing() -> None:
    try:
        import readline  # noqa: F401 - importing it gives input() history and editing
    except ImportError:
        pass


def _read_line(stdin: TextIO | None, tty: bool) -> str | None:
    """The next line the user typed, or ``None`` at end of input (Ctrl-D)."""
    if stdin is None:
        return None
    if tty and stdin is sys.stdin:
        try:
            return input("> ")
        except EOFError:
            sys.stdout.write("\n")
            return None
    line = stdin.readline()
    if not line:
        return None
    return line.rstrip("\n")
