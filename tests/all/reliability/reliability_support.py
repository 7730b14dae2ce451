"""Helpers of the reliability suite: a test provider, clients whose retry
sleeps are recorded instead of slept, and the raw-socket faults FakeServer
cannot script (refused and black-holed connections, a per-request echo stream).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Any

import chatplug
import httpx

FIXTURES = Path(__file__).parent / "fixtures"

#: The key every test client uses; no output anywhere may contain it.
API_KEY = "sk-reliability-7f3a9c0e5b1d4e2f8a6c"

MESSAGES = [{"role": "user", "content": "Say hi"}]

TEST_PROVIDER = chatplug.Provider(
    id="rel",
    base_url="http://127.0.0.1:9/v1",
    name="Reliability test provider",
    api_key_env=("CHATPLUG_RELIABILITY_KEY",),
    model_prefixes=("rel-",),
    limits=chatplug.Limits(temperature=(0, 1), top_p=(0.01, 1), max_stop=4, max_n=5,
                           tool_choice=("auto", "none", "function")),
)


class ProviderPlugin:
    """Declares :data:`TEST_PROVIDER`."""

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [TEST_PROVIDER]


class AttemptRecorder:
    """An observer plugin: counts attempts and remembers each error and its retry decision."""

    def __init__(self) -> None:
        self.attempts = 0
        self.errors: list[tuple[type[BaseException], bool]] = []
        self.events: list[Any] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: Any) -> None:
        self.attempts += 1
        self.events.append(request)

    @chatplug.hookimpl
    def chatplug_on_error(self, request: Any, error: BaseException, will_retry: bool) -> None:
        self.errors.append((type(error), will_retry))


def make_registry(*plugins: object) -> tuple[chatplug.PluginRegistry, AttemptRecorder]:
    """An isolated registry with the test provider, an attempt recorder and ``plugins``."""
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(), "reliability-provider")
    recorder = AttemptRecorder()
    registry.register(recorder, "reliability-recorder")
    for number, plugin in enumerate(plugins):
        registry.register(plugin, f"reliability-extra-{number}")
    return registry, recorder


# ------------------------------------------------------------------ wire data


def chunk(content: str | None = None, finish_reason: str | None = None, **delta: Any) -> dict[str, Any]:
    """One OpenAI stream chunk."""
    body = {"role": "assistant", **delta}
    if content is not None:
        body["content"] = content
    return {
        "id": "chatcmpl-rel",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "rel-1",
        "choices": [{"index": 0, "delta": body, "finish_reason": finish_reason}],
    }


def completion(content: str = "Hello!") -> dict[str, Any]:
    """One OpenAI non-stream completion."""
    return {
        "id": "chatcmpl-rel",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "rel-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def fixture_json(name: str) -> Any:
    """A recorded provider body from ``fixtures/``."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# -------------------------------------------------------------------- harness


class Harness:
    """Runs calls through a sync or an async client, alike.

    Retry sleeps are recorded in :attr:`sleeps` instead of slept; the
    attempt recorder counts what the client tried, the server what it received.
    """

    def __init__(self, mode: str, base_url: str, *, provider: str = "rel", model: str = "rel-1",
                 plugins: tuple[object, ...] = (), **client_options: Any) -> None:
        self.mode = mode
        self.base_url = base_url
        self.provider = provider
        self.model = model
        self.client_options = client_options
        self.registry, self.recorder = make_registry(*plugins)
        self.sleeps: list[float] = []

    def _sync_client(self) -> chatplug.Client:
        client = chatplug.Client(provider=self.provider, api_key=API_KEY, base_url=self.base_url,
                                 registry=self.registry, **self.client_options)
        client._sleep = self.sleeps.append
        return client

    def _async_client(self) -> chatplug.AsyncClient:
        client = chatplug.AsyncClient(provider=self.provider, api_key=API_KEY, base_url=self.base_url,
                                      registry=self.registry, **self.client_options)

        async def record(delay: float) -> None:
            self.sleeps.append(delay)

        client._sleep = record
        return client

    def complete(self, **params: Any) -> chatplug.ChatCompletion:
        """One non-stream call."""
        params.setdefault("messages", MESSAGES)
        if self.mode == "sync":
            with self._sync_client() as client:
                reply: chatplug.ChatCompletion = client.chat.completions.create(model=self.model, **params)
                return reply

        async def run() -> chatplug.ChatCompletion:
            async with self._async_client() as client:
                areply: chatplug.ChatCompletion = await client.chat.completions.create(model=self.model, **params)
                return areply

        return asyncio.run(run())

    def stream(self, **params: Any) -> tuple[list[chatplug.ChatCompletionChunk], chatplug.ChatCompletion]:
        """One stream read to the end: the chunks and the final completion."""
        params.setdefault("messages", MESSAGES)
        if self.mode == "sync":
            with self._sync_client() as client, client.chat.completions.create(
                model=self.model, stream=True, **params
            ) as stream:
                chunks = list(stream)
                return chunks, stream.get_final_completion()

        async def run() -> tuple[list[chatplug.ChatCompletionChunk], chatplug.ChatCompletion]:
            async with self._async_client() as client:
                stream = await client.chat.completions.create(model=self.model, stream=True, **params)
                async with stream:
                    chunks = [item async for item in stream]
                    return chunks, await stream.get_final_completion()

        return asyncio.run(run())


# ----------------------------------------------------------- raw-socket faults


def refused_base_url() -> str:
    """A loopback address where nothing listens: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class BlackHole:
    """A listener whose accept queue is full: a new connection's SYN is dropped,
    so connecting hangs until the client's connect timeout."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(filler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        for filler in self.fillers:
            filler.close()
        self.listener.close()


class EchoStreamServer:
    """A loopback SSE server that streams a reply built from the request itself:
    ``chunks`` pieces ``"<user>:<i>;"``, a finishing chunk, then ``[DONE]``.

    Each stream's content names its own request, so crossed wires between
    concurrent streams cannot go unnoticed.
    """

    def __init__(self, chunks: int = 50) -> None:
        self.chunks = chunks
        self.requests = 0
        self.open_connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="echo-stream-server", daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> EchoStreamServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = json.loads(await reader.readexactly(length))
                self.requests += 1
                tag = body.get("user", "?")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                for number in range(self.chunks):
                    event = b"data: " + json.dumps(chunk(f"{tag}:{number};")).encode() + b"\n\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await writer.drain()
                final = b"data: " + json.dumps(chunk(None, "stop")).encode() + b"\n\ndata: [DONE]\n\n"
                writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(final), final))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self.open_connections -= 1
            writer.close()


def checked_out(pool: Any) -> int:
    """How many connections of an httpcore pool are serving a request right now."""
    busy = sum(1 for connection in pool.connections if not connection.is_idle() and not connection.is_closed())
    return busy + len(getattr(pool, "_requests", ()))


def pool_of(http_client: httpx.Client | httpx.AsyncClient) -> Any:
    """The httpcore connection pool behind an httpx client."""
    return http_client._transport._pool  # type: ignore[union-attr]
