"""Helpers shared by the core tests: the test provider, sample bodies, recorded fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatplug

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "sk-test-secret-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hi"}]

TEST_PROVIDER = chatplug.Provider(
    id="testprov",
    base_url="http://127.0.0.1:9/v1",
    name="Test provider",
    api_key_env=("CHATPLUG_TEST_KEY",),
    models=("exact-model",),
    model_prefixes=("t-",),
    limits=chatplug.Limits(temperature=(0, 1), top_p=(0.01, 1), max_stop=2, max_n=3, tool_choice=("auto", "none")),
)


class ProviderPlugin:
    """A plugin object declaring one provider, as a third party would."""

    def __init__(self, *providers: chatplug.Provider) -> None:
        self.declared = list(providers)

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return self.declared


def fixture_bytes(name: str) -> bytes:
    """The raw bytes of a recorded sample in ``tests/core/fixtures``."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    """A recorded JSON sample, parsed."""
    return json.loads(fixture_bytes(name))


def completion_body(content: str = "hello", **extra: Any) -> dict[str, Any]:
    """A plain OpenAI completion body."""
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "t-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(extra)
    return body


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """A plain OpenAI stream chunk with one choice."""
    body: dict[str, Any] = {
        "id": "chunk-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "t-1",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }
    body.update(extra)
    return body


class SleepRecorder:
    """Stands in for ``client._sleep``: records the delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class AsyncSleepRecorder(SleepRecorder):
    """The async twin of :class:`SleepRecorder`."""

    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.delays.append(seconds)
