"""Printing a reply: the answer on stdout, reasoning apart, usage on request.

Reasoning is shown dimmed on stdout when stdout is a terminal (and
``NO_COLOR`` is unset); otherwise it goes to stderr, so ``chatplug chat ... >
answer.txt`` captures the answer alone.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # annotations only: naming ChatCompletionChunk here would create the stream classes
    from chatplug.types import ChatCompletion, ChatCompletionChunk, Usage

__all__ = ["ReplyPrinter", "finish_notice", "is_tty", "message_text", "print_json", "print_json_line", "usage_line"]

DIM = "\x1b[2m"
RESET = "\x1b[0m"


def is_tty(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal (``False`` for ``None`` or a closed stream)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


class ReplyPrinter:
    """Writes one reply piece by piece, flushing each piece as it arrives."""

    def __init__(self, out: TextIO, err: TextIO, *, show_reasoning: bool = True) -> None:
        self.out = out
        self.err = err
        self.show_reasoning = show_reasoning
        self.dim = is_tty(out) and not os.environ.get("NO_COLOR")
        self._state = "start"  # start | reasoning | content
        self._last_char = "\n"

    def reasoning(self, text: str | None) -> None:
        """Show a piece of reasoning (unless hidden)."""
        if not text or not self.show_reasoning:
            return
        self._state = "reasoning"
        if self.dim:
            self.out.write(f"{DIM}{text}{RESET}")
            self.out.flush()
            self._last_char = text[-1]
        else:
            self.err.write(text)
            self.err.flush()

    def content(self, text: str | None) -> None:
        """Show a piece of the answer."""
        if not text:
            return
        if self._state == "reasoning":
            self._end_reasoning()
        self._state = "content"
        self.out.write(text)
        self.out.flush()
        self._last_char = text[-1]

    def _end_reasoning(self) -> None:
        if self.dim:
            self.out.write("\n\n" if self._last_char != "\n" else "\n")
            self._last_char = "\n"
        else:
            self.err.write("\n")
            self.err.flush()

    def end(self) -> None:
        """Finish the reply: the answer ends with a newline, reasoning is closed."""
        if self._state == "reasoning":
            self._end_reasoning()
        if self._state == "content" and self._last_char != "\n":
            self.out.write("\n")
            self._last_char = "\n"
        self.out.flush()

    def completion(self, completion: ChatCompletion) -> None:
        """Show a whole (non-streamed) completion: reasoning, then the answer."""
        if completion.choices:
            message = completion.choices[0].message
            self.reasoning(message.reasoning_content)
            self.content(message_text(message.content))
        self.end()


def message_text(content: str | list[Any] | None) -> str | None:
    """The text of a message's content: a string, or the text parts of a list."""
    if content is None or isinstance(content, str):
        return content
    texts = []
    for part in content:
        text = part.get("text") if isinstance(part, dict) else getattr(part, "text", None)
        if isinstance(text, str):
            texts.append(text)
    return "".join(texts)


def print_json(completion: ChatCompletion, out: TextIO) -> None:
    """Print the completion as OpenAI wire JSON."""
    out.write(json.dumps(completion.to_dict(), ensure_ascii=False, indent=2) + "\n")
    out.flush()


def print_json_line(item: ChatCompletion | ChatCompletionChunk, out: TextIO) -> None:
    """Print a chunk (or a completion) as one line of OpenAI wire JSON (``--jsonl``)."""
    out.write(json.dumps(item.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


def usage_line(usage: Usage | None) -> str:
    """``usage: 12 prompt + 34 completion = 46 tokens (12 cached, 20 reasoning)``."""
    if usage is None:
        return "usage: not reported by the provider"
    text = (
        f"usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion"
        f" = {usage.total_tokens} tokens"
    )
    details = []
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
    reasoning = usage.completion_tokens_details.reasoning_tokens if usage.completion_tokens_details else None
    if cached:
        details.append(f"{cached} cached")
    if reasoning:
        details.append(f"{reasoning} reasoning")
    if details:
        text += f" ({', '.join(details)})"
    return text


_FINISH_NOTICES = {
    "length": "the reply was cut: the token limit was reached (raise --max-tokens)",
    "content_filter": "the provider's content filter stopped the reply",
    "tool_calls": "the model asked to call a tool; chatplug chat does not run tools",
}


def finish_notice(completion: ChatCompletion) -> str | None:
    """A note for stderr when the reply stopped for a reason other than a normal end."""
    if not completion.choices:
        return None
    reason = completion.choices[0].finish_reason
    return _FINISH_NOTICES.get(reason) if reason else None
