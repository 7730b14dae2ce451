"""Helpers of the recording suite: the real transcripts it serves, the key it
plants, and running ``python -m chatplug.testing`` in a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import chatplug

FIXTURES = Path(__file__).parent / "fixtures"

#: The key the tests plant; no recorded file may ever contain it.
SECRET_KEY = "sk-record-test-7f3a9c1e5b2d48a6"

#: Generous safety limit for one subprocess (never asserted on).
RUN_TIMEOUT = 60

MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": "Hi there"}]


def crlf_with_keepalives(data: bytes) -> bytes:
    """A real transcript as a server may frame it: CRLF line endings and a
    keep-alive comment after the first event (the bytes a recorder must keep)."""
    text = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    first, sep, rest = text.partition(b"\r\n\r\n")
    return first + sep + b": keep-alive\r\n\r\n" + rest + b": ping\r\n\r\n"


def run_module(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m chatplug.testing ARGS`` to completion, in an environment without real keys."""
    return subprocess.run(
        [sys.executable, "-m", "chatplug.testing", *args],
        capture_output=True, text=True, encoding="utf-8", env=child_env(env), timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: no provider key or chatplug setting of the developer's."""
    env = {name: value for name, value in os.environ.items()
           if not name.endswith(("_API_KEY", "_BASE_URL")) and not name.startswith("CHATPLUG_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def stream_sync(base_url: str, model: str = "glm-4.5", provider: str = "glm"
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every chunk (as a dict) and the final completion of one streamed call."""
    with chatplug.Client(provider=provider, base_url=base_url, api_key=SECRET_KEY, max_retries=0) as client, \
            client.chat.completions.create(model=model, messages=MESSAGES, stream=True) as stream:
        chunks = [chunk.to_dict() for chunk in stream]
        return chunks, stream.get_final_completion().to_dict()


def stream_async(base_url: str, model: str = "glm-4.5", provider: str = "glm"
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The asyncio twin of :func:`stream_sync`."""

    async def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with chatplug.AsyncClient(provider=provider, base_url=base_url, api_key=SECRET_KEY,
                                        max_retries=0) as client:
            stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
            async with stream:
                chunks = [chunk.to_dict() async for chunk in stream]
                final = await stream.get_final_completion()
            return chunks, final.to_dict()

    return asyncio.run(run())


def every_recorded_byte(folder: Path) -> list[tuple[Path, bytes]]:
    """Every file under ``folder`` with its bytes."""
    return [(path, path.read_bytes()) for path in sorted(folder.rglob("*")) if path.is_file()]
