"""Turning each ``chatplug chat`` turn into a logged :class:`~._log.Exchange`.

The reply comes from the observer hook ``chatplug_on_finish``, which hands
over the final completion of every call, including the partial one of a
stream cut by the network or by Ctrl-C. The prompt, system prompt and options
come from the command itself; request headers are never looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from chatplug._cli._errors import one_line
from chatplug._cli._log import ConversationLog, Exchange, LogError
from chatplug._cli._render import message_text
from chatplug.errors import APIError
from chatplug.events import RequestEvent
from chatplug.hookspecs import hookimpl
from chatplug.types import ChatCompletion

__all__ = ["FinishCapture", "TurnRecorder"]


class FinishCapture:
    """An observer plugin that keeps the last call's final (or partial) completion."""

    def __init__(self) -> None:
        self.completion: ChatCompletion | None = None
        self.provider: str | None = None
        self.model: str | None = None

    def reset(self) -> None:
        """Forget the previous call."""
        self.completion = None
        self.provider = None
        self.model = None

    @hookimpl
    def chatplug_on_finish(
        self, request: RequestEvent, completion: ChatCompletion | None, error: BaseException | None
    ) -> None:
        """Keep what the call ended with."""
        self.completion = completion
        self.provider = request.provider.id
        self.model = request.model


def _error_text(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(error, APIError):
        return one_line(str(error))
    return one_line(f"{type(error).__name__}: {error}") if str(error) else type(error).__name__


def _tool_calls(completion: ChatCompletion) -> list[Any] | None:
    if not completion.choices or not completion.choices[0].message.tool_calls:
        return None
    return [call.to_dict() for call in completion.choices[0].message.tool_calls]


class TurnRecorder:
    """Writes each turn of one ``chatplug chat`` run to the log, in one conversation.

    A log that cannot be written (disk full, a newer schema) costs one warning
    on stderr, once; the chat itself goes on.
    """

    def __init__(
        self,
        log: ConversationLog,
        conversation_id: str,
        *,
        provider: str | None,
        model: str,
        stderr: TextIO,
        redact: Callable[[str], str],
    ) -> None:
        self.log = log
        self.conversation_id = conversation_id
        self.provider = provider
        self.model = model
        self.stderr = stderr
        self.redact = redact
        self.capture = FinishCapture()
        self._warned = False

    def begin(self) -> None:
        """A new turn starts."""
        self.capture.reset()

    def record(
        self,
        messages: Sequence[Mapping[str, Any]],
        options: Mapping[str, Any],
        completion: ChatCompletion | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        """Log one turn: its last user message is the prompt, a leading system message the system prompt."""
        if completion is None:
            completion = self.capture.completion or getattr(error, "partial", None)
        prompt = message_text(messages[-1].get("content")) if messages else ""
        system = None
        if messages and messages[0].get("role") == "system":
            system = message_text(messages[0].get("content"))
        response = reasoning = finish_reason = None
        tool_calls = None
        if completion is not None and completion.choices:
            choice = completion.choices[0]
            response = message_text(choice.message.content)
            reasoning = choice.message.reasoning_content
            finish_reason = choice.finish_reason
            tool_calls = _tool_calls(completion)
        exchange = Exchange(
            conversation_id=self.conversation_id,
            model=self.capture.model or self.model,
            provider=self.capture.provider or self.provider,
            prompt=prompt or "",
            system=system,
            options=dict(options),
            response=response,
            reasoning=reasoning,
            tool_calls=tool_calls,
            usage=completion.usage.to_dict() if completion is not None and completion.usage else None,
            finish_reason=finish_reason,
            response_id=completion.id if completion is not None and completion.id else None,
            duration_ms=round(seconds * 1000),
            error=_error_text(error) if error is not None else None,
            error_type=type(error).__name__ if error is not None else None,
        )
        import sqlite3

        try:
            self.log.add(exchange)
        except (sqlite3.Error, LogError, OSError) as failure:
            if not self._warned:
                self._warned = True
                self.stderr.write(
                    self.redact(one_line(f"chatplug: warning: the turn was not logged: {failure}")) + "\n"
                )
                self.stderr.flush()
