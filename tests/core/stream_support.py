"""Streamed calls for the stream suites: raw event bytes, and one call run on the sync or the
async client with what it delivered collected (the ``stream_call`` fixture in conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import chatplug
from core_support import MESSAGES, chunk

MODEL = "t-1"


def event(value: Any) -> bytes:
    """One SSE event carrying ``value`` as JSON."""
    return b"data: " + json.dumps(value).encode() + b"\n\n"


HELLO = event(chunk({"role": "assistant", "content": "Hel"})) + event(chunk({"content": "lo"}))
STOP = event(chunk({}, "stop"))


class Outcome:
    """What one streamed call produced: the chunks, then the final completion or the error."""

    def __init__(self) -> None:
        self.chunks: list[chatplug.ChatCompletionChunk] = []
        self.final: chatplug.ChatCompletion | None = None
        self.error: chatplug.APIError | None = None
        self.skipped: list[tuple[str, bytes]] = []

    @property
    def content(self) -> str:
        return "".join(c.choices[0].delta.content or "" for c in self.chunks if c.choices)


def run_sync(client: chatplug.Client) -> Outcome:
    """One streamed call on the sync client."""
    outcome = Outcome()
    try:
        with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
            try:
                for item in stream:
                    outcome.chunks.append(item)
                outcome.final = stream.get_final_completion()
            finally:
                outcome.skipped = stream.skipped_events
    except chatplug.APIError as exc:
        outcome.error = exc
    return outcome


async def run_async(aclient: chatplug.AsyncClient) -> Outcome:
    """One streamed call on the async client."""
    outcome = Outcome()
    try:
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            try:
                async for item in stream:
                    outcome.chunks.append(item)
                outcome.final = await stream.get_final_completion()
            finally:
                outcome.skipped = stream.skipped_events
    except chatplug.APIError as exc:
        outcome.error = exc
    return outcome


#: ``await stream_call()``, or ``stream_call(api_key=...)`` for another key or a key pool.
Runner = Callable[..., Awaitable[Outcome]]
