"""Helpers for the scale suite: a real redis-server on a free loopback port,
a loopback chat server that counts the requests it holds at once, and the
worker processes that load it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import chatplug

HERE = Path(__file__).parent
WORKER = HERE / "scale_worker.py"
KEY = "sk-scale-test-key-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hi"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, in a temporary directory, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="chatplug-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (.ci/run installs it: apt-get install redis-server)"
            if os.environ.get("CI"):
                raise RuntimeError(message)
            import pytest

            pytest.skip(message)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def completion(tokens: int) -> bytes:
    body = {
        "id": "cmpl-scale", "object": "chat.completion", "created": 1700000000, "model": "t-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens // 2, "completion_tokens": tokens - tokens // 2, "total_tokens": tokens},
    }
    return json.dumps(body).encode()


class CountingServer:
    """A loopback chat-completions server that counts requests in flight.

    Each reply waits ``delay`` seconds (or the request's ``x-delay`` header)
    before answering; ``max_in_flight`` is the most requests it held at once,
    ``count`` how many it received, ``keys`` the bearer token of each.
    """

    def __init__(self, delay: float = 0.02, usage_tokens: int = 10) -> None:
        self.delay = delay
        self.usage_tokens = usage_tokens
        self.in_flight = 0
        self.max_in_flight = 0
        self.count = 0
        self.keys: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> CountingServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        async def start() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            self.port = server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(start())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        loop = self._loop
        assert loop is not None

        async def shutdown() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                with self._lock:
                    self.count += 1
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                    self.keys.append(headers.get("authorization", "").removeprefix("Bearer "))
                try:
                    await asyncio.sleep(float(headers.get("x-delay", self.delay)))
                    body = completion(self.usage_tokens)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    await writer.drain()
                finally:
                    with self._lock:
                        self.in_flight -= 1
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.transport.abort()


def provider(base_url: str) -> chatplug.Provider:
    return chatplug.Provider(id="scaleprov", base_url=base_url, model_prefixes=("t-",))


class ProviderPlugin:
    def __init__(self, declared: chatplug.Provider) -> None:
        self.declared = declared

    @chatplug.hookimpl
    def chatplug_providers(self) -> chatplug.Provider:
        return self.declared


def registry_for(base_url: str) -> chatplug.PluginRegistry:
    reg = chatplug.PluginRegistry(load_entrypoints=False)
    reg.register(ProviderPlugin(provider(base_url)), "scale-provider")
    return reg


def start_worker(**options: Any) -> subprocess.Popen[str]:
    """A worker process (see scale_worker.py); its last stdout line is a JSON summary."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(options)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )


def result_of(process: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
