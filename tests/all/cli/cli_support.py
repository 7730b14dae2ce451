"""Helpers of the CLI suite: run the real ``chatplug`` command in a subprocess
with a scrubbed environment, and read what a recorded transcript says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

FIXTURES = Path(__file__).parent / "fixtures"

#: The key the tests give; no output of the command may ever contain it.
SECRET_KEY = "sk-cli-test-5e1b9d7c3a0f42e8b6d4"

#: Environment variables removed before every run, so the developer's own keys,
#: endpoints and plugin filters never leak into a test.
SCRUBBED_PREFIXES = ("CHATPLUG_",)
SCRUBBED_NAMES = ("ZAI_BASE_URL", "MOONSHOT_BASE_URL", "NO_COLOR", "OPENAI_BASE_URL")

#: Generous safety limit for one subprocess (never asserted on).
RUN_TIMEOUT = 60


@attrs.frozen
class UserDirs:
    """The temporary HOME, XDG data and XDG config directories of one test."""

    home: Path
    data: Path
    config: Path

    @property
    def log(self) -> Path:
        """Where the command's conversation log must be."""
        return self.data / "chatplug" / "logs.db"

    @property
    def keys(self) -> Path:
        """Where the command's key store must be."""
        return self.config / "chatplug" / "keys.json"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without API keys, base-URL overrides or chatplug settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith("_API_KEY")
        and not name.startswith(SCRUBBED_PREFIXES)
        and name not in SCRUBBED_NAMES
    }
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def command(*args: str) -> list[str]:
    """The real console entry: ``python -m chatplug ARGS``."""
    return [sys.executable, "-m", "chatplug", *args]


def run(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``chatplug ARGS`` to completion; stdin is empty unless given."""
    return subprocess.run(
        command(*args),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=clean_env(env),
        timeout=RUN_TIMEOUT,
    )


def sse_chunks(name: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded SSE transcript, parsed independently of chatplug."""
    chunks = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("data:"):
            data = line[len("data:") :].strip()
            if data and data != "[DONE]":
                chunks.append(json.loads(data))
    return chunks


def transcript_text(name: str, field: str = "content") -> str:
    """Everything a transcript streamed in ``delta.<field>`` for choice 0, concatenated."""
    parts = []
    for chunk in sse_chunks(name):
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:
                value = (choice.get("delta") or {}).get(field)
                if value:
                    parts.append(value)
    return "".join(parts)


def as_printed(text: str) -> str:
    """What the command prints for an answer: the text, ending with one newline."""
    return text if text.endswith("\n") else text + "\n"


def load_json(name: str) -> Any:
    """A JSON fixture."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def assert_one_line_error(stderr: str, *, secret: str = SECRET_KEY) -> str:
    """The error output is exactly one line, with no traceback and no key; return it."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert secret not in stderr
    return lines[0]
