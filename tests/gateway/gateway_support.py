"""Helpers for the gateway tests: the gateway served by uvicorn in a thread or
a `chatplug serve` subprocess, on a free loopback port, in front of a FakeServer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from chatplug.plugins import PluginRegistry
from chatplug.testing import FakeServer
from chatplug_gateway import create_app, load_config
from starlette.applications import Starlette

FIXTURES = Path(__file__).parent / "fixtures"
#: The provider keys the gateway holds: they must never reach a gateway client.
ZAI_KEY = "zai-provider-secret-5b2f0c9e7d1a4c3b"
MOONSHOT_KEY = "sk-moonshot-provider-secret-8e4d2a1f"
#: Gateway keys (what clients send).
TEAM_A_KEY = "gw-team-a-0f1e2d3c4b5a69788796"
TEAM_B_KEY = "gw-team-b-a1b2c3d4e5f60718293a"

#: Typed Any: the openai package's overloads want its own TypedDicts.
MESSAGES: Any = [{"role": "user", "content": "What is the weather in Florence?"}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}

#: A config with two tenants: team-a may use GLM models and the `fast` alias; team-b anything, 2 requests a minute.
TENANTS_TOML = f"""
[upstream]
max_retries = 0

[models]
fast = "glm/glm-4.5-air"

[[keys]]
name = "team-a"
key = "{TEAM_A_KEY}"
models = ["glm/*", "fast"]

[[keys]]
name = "team-b"
key = "{TEAM_B_KEY}"
rpm = 2
"""


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def provider_env(fake: FakeServer) -> dict[str, str]:
    """The environment that points GLM and Kimi at the fake server, with provider keys."""
    return {
        "ZAI_BASE_URL": fake.base_url,
        "ZAI_API_KEY": ZAI_KEY,
        "MOONSHOT_BASE_URL": fake.base_url,
        "MOONSHOT_API_KEY": MOONSHOT_KEY,
    }


def chunk(content: str | None = None, *, reasoning: str | None = None, finish: str | None = None,
          usage: dict[str, int] | None = None, tool_calls: list[dict[str, Any]] | None = None,
          model: str = "glm-4.6") -> dict[str, Any]:
    """A GLM-style stream chunk (no ``object``, role repeated)."""
    delta: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if finish is not None:
        choice["finish_reason"] = finish
    body: dict[str, Any] = {"id": "glm-stream-1", "created": 1760000000, "model": model, "choices": [choice]}
    if usage is not None:
        body["usage"] = usage
    return body


USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def simple_stream(text: str = "Hello there", model: str = "glm-4.6") -> list[dict[str, Any]]:
    words = text.split(" ")
    parts = [chunk(word if i == 0 else " " + word, model=model) for i, word in enumerate(words)]
    return [*parts, chunk("", finish="stop", usage=USAGE, model=model)]


def completion(content: str = "Hello there", model: str = "glm-4.6") -> dict[str, Any]:
    return {
        "id": "glm-cmpl-1",
        "created": 1760000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": USAGE,
    }


class ThreadedGateway:
    """The gateway app served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, name="gateway-under-test", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> ThreadedGateway:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def threaded_gateway(toml: str = "", environ: Mapping[str, str] | None = None,
                     registry: PluginRegistry | None = None) -> ThreadedGateway:
    config = load_config(text=toml, environ=environ).with_env_keys(environ or {})
    return ThreadedGateway(create_app(config, registry=registry))


class GatewayProcess:
    """``chatplug serve`` in a subprocess (stdout and stderr captured to files)."""

    def __init__(self, tmp: Path, args: list[str], env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.tmp = tmp
        self.args = ["--port", str(self.port), *args]
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.stdout = tmp / "serve.out"
        self.stderr = tmp / "serve.err"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def __enter__(self) -> GatewayProcess:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "chatplug", "serve", *self.args],
                                            stdout=out, stderr=err, env=self.env)
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"chatplug serve exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"chatplug serve did not answer /health: {self.output()}")
            time.sleep(0.1)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def run_serve(args: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``chatplug serve ARGS`` to completion (``--check``, a refused start)."""
    return subprocess.run([sys.executable, "-m", "chatplug", "serve", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout, check=False)
