"""Constants and helpers shared by the chatplug-kimi tests (a uniquely named
module, so it never clashes with another suite's helpers on ``sys.path``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
#: A fake key; tests check it never leaks into messages or reprs.
API_KEY = "sk-kimi-test-0123456789abcdefXYZ"


def load_fixture(name: str) -> Any:
    """A recorded JSON sample from ``fixtures/``."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Kimi-shaped stream chunk (``system_fingerprint`` on every chunk, like the recordings)."""
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    if "choice_usage" in extra:
        choice["usage"] = extra.pop("choice_usage")
    return {
        "id": "chatcmpl-synthetic",
        "object": "chat.completion.chunk",
        "created": 1762748041,
        "model": "kimi-k2-0905-preview",
        "choices": [choice],
        "system_fingerprint": "fpv0_41b1161c",
        **extra,
    }


def completion(message: dict[str, Any], finish_reason: str = "stop", **extra: Any) -> dict[str, Any]:
    """A Kimi-shaped non-stream completion body."""
    return {
        "id": "chatcmpl-synthetic",
        "object": "chat.completion",
        "created": 1762748041,
        "model": "kimi-k2-0905-preview",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        **extra,
    }
