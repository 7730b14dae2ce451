"""Helpers shared by the GLM tests: recorded samples, sleep recorders, an
unrelated provider to prove the GLM hooks leave others alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatplug

FIXTURES = Path(__file__).parent / "fixtures"
API_KEY = "zai-test-key-0123456789abcdef"
API_PATH = "/api/paas/v4"
CHAT_PATH = f"{API_PATH}/chat/completions"
MESSAGES = [{"role": "user", "content": "Hi"}]

OTHER_PROVIDER = chatplug.Provider(
    id="other",
    base_url="http://127.0.0.1:9/v1",
    api_key_env=("OTHER_TEST_KEY",),
    model_prefixes=("other-",),
)


class ProviderPlugin:
    """A plugin declaring one plain OpenAI-compatible provider."""

    def __init__(self, provider: chatplug.Provider) -> None:
        self.provider = provider

    @chatplug.hookimpl
    def chatplug_providers(self) -> chatplug.Provider:
        return self.provider


class SleepRecorder(list[float]):
    """Stands in for ``Client._sleep``: records each delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class AsyncSleepRecorder(list[float]):
    """Stands in for ``AsyncClient._sleep``."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fixture_path(name: str) -> Path:
    return FIXTURES / name


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sse_chunks(name: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded SSE transcript, as sent (independent of chatplug's decoder)."""
    chunks = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunks.append(json.loads(line[len("data: ") :]))
    return chunks


def joined(chunks: list[dict[str, Any]], field: str) -> str:
    """Every ``delta[field]`` of a transcript, concatenated."""
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c.get("choices"))
