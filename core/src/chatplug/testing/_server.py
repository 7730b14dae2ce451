"""A real HTTP/1.1 server on 127.0.0.1 that speaks the chat-completions wire format.

It runs an asyncio loop in a background thread, so sync tests, async tests and
subprocesses all reach it over a real loopback socket. Replies are scripted in
order; faults (delays, cut connections, trickled bytes) are part of a reply.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attr

__all__ = ["MALFORMED_LINE", "FakeServer", "RecordedRequest", "Reply", "sse_events"]


#: The end of an SSE event: a line ending followed by an empty line (CRLF, LF or CR, in any mix).
_EVENT_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")  # a CRLF is never split


def sse_events(text: str | bytes) -> list[bytes]:
    """Split an SSE transcript into its events, verbatim: each event keeps its
    own line endings (CRLF stays CRLF) and the blank line that ends it, and
    ``b"".join(sse_events(data)) == data``. Extra blank lines stay with the
    event before them; a last event without its blank line is kept as it is."""
    data = text.encode() if isinstance(text, str) else text
    events: list[bytes] = []
    start = 0
    for end in _EVENT_END.finditer(data):
        events.append(data[start : end.end()])
        start = end.end()
    if start < len(data):
        events.append(data[start:])
    merged: list[bytes] = []
    for event in events:
        if merged and not event.strip():
            merged[-1] += event  # a stray blank line belongs to the event before it
        else:
            merged.append(event)
    if len(merged) > 1 and not merged[0].strip():
        merged[1] = merged[0] + merged[1]
        del merged[0]
    return merged


def _encode_event(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    if hasattr(item, "to_dict"):
        item = item.to_dict()
    return b"data: " + json.dumps(item, ensure_ascii=False).encode() + b"\n\n"


#: The default malformed stream line: a ``data:`` field whose JSON is cut short.
MALFORMED_LINE = b'data: {"id": "broken", "choices": [{"delta": {"content": "unterminated\n\n'


@attr.frozen
class Reply:
    """One scripted response, with optional faults.

    Build one with :meth:`json`, :meth:`sse`, :meth:`sse_file`, :meth:`sse_bytes`,
    :meth:`error` or :meth:`retry_later`. Faults: ``delay_before_headers`` and
    ``delay_between_chunks`` (seconds), ``close_after_chunks`` /
    ``close_after_bytes`` (cut the connection there), ``trickle`` (write the
    body in pieces of that many bytes), ``malformed_line_at`` (send
    ``malformed_line`` before stream event number N, counting from 0).
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    chunks: tuple[bytes, ...] | None = None
    delay_before_headers: float = 0.0
    delay_between_chunks: float = 0.0
    close_after_chunks: int | None = None
    close_after_bytes: int | None = None
    trickle: int | None = None
    malformed_line_at: int | None = None
    malformed_line: bytes = MALFORMED_LINE

    @classmethod
    def json(cls, body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None, **faults: Any) -> Reply:
        """A JSON body (a dict, a typed chatplug object, or raw ``bytes``)."""
        if hasattr(body, "to_dict"):
            body = body.to_dict()
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(status=status, headers=tuple(merged.items()), body=raw, **faults)

    @classmethod
    def error(cls, status: int, body: Any = None, *, headers: Mapping[str, str] | None = None, **faults: Any) -> Reply:
        """An error response: JSON when ``body`` is a dict, else text (an HTML page, say)."""
        if isinstance(body, (dict, list)):
            return cls.json(body, status=status, headers=headers, **faults)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        merged = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        return cls(status=status, headers=tuple(merged.items()), body=raw, **faults)

    @classmethod
    def retry_later(
        cls,
        status: int = 429,
        retry_after: float | str = 1,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        **faults: Any,
    ) -> Reply:
        """A 429 or 503 (or any status) carrying a ``Retry-After`` header.

        ``retry_after`` is seconds (a number) or an HTTP date (a string).
        ``body`` defaults to an OpenAI-style error naming the status.
        """
        value = retry_after if isinstance(retry_after, str) else _seconds(retry_after)
        if body is None:
            kind = "rate_limit_exceeded" if status == 429 else "service_unavailable"
            body = {"error": {"message": f"FakeServer: HTTP {status}, retry later", "type": kind}}
        merged = {"Retry-After": value, **(headers or {})}
        return cls.error(status, body, headers=merged, **faults)

    @classmethod
    def sse(
        cls,
        events: Iterable[Any],
        *,
        done: bool = True,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **faults: Any,
    ) -> Reply:
        """A stream: each item is a chunk (dict or typed object, sent as
        ``data: <json>``) or raw ``bytes``/``str`` written verbatim (use that for
        comments, ``event:`` lines or a malformed line). ``done`` appends
        ``data: [DONE]``."""
        chunks = [_encode_event(item) for item in events]
        if done:
            chunks.append(b"data: [DONE]\n\n")
        merged = {"Content-Type": "text/event-stream", **(headers or {})}
        return cls(status=status, headers=tuple(merged.items()), chunks=tuple(chunks), **faults)

    @classmethod
    def sse_file(cls, path: str | Path, **options: Any) -> Reply:
        """A recorded SSE transcript, replayed event by event, byte for byte
        (see :func:`sse_events`: nothing is rewritten or added)."""
        return cls.sse(sse_events(Path(path).read_bytes()), done=False, **options)

    @classmethod
    def sse_bytes(cls, data: bytes, *, chunk_size: int | None = None, **options: Any) -> Reply:
        """Raw stream bytes, written in pieces of ``chunk_size`` (default: one piece)."""
        size = chunk_size or max(len(data), 1)
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        return cls.sse(pieces, done=False, **options)

    @classmethod
    def recorded(cls, path: str | Path) -> Reply:
        """A recording made by ``python -m chatplug.testing record`` (or any fixture
        with a ``.source.txt``), sent back with its recorded status and headers:
        a ``.sse`` file event by event, byte for byte; a ``.json``/``.txt`` body as is."""
        from chatplug.testing._replay import load_recording

        return load_recording(path).reply()


@attr.define
class RecordedRequest:
    """A request the server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    #: Whether the client closed the connection before the reply was complete.
    disconnected: bool = False

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return json.loads(self.body)


class FakeServer:
    """A scripted chat-completions server on 127.0.0.1 (ephemeral port).

    ::

        with FakeServer() as server:
            server.add(Reply.json(completion))
            client = chatplug.Client(provider=..., base_url=server.base_url)

    Replies are served in the order added, to any path; when the queue is empty
    the ``default`` reply (if set) is served, else a 500 saying so.
    ``requests`` records every request. ``responder`` (a function of the
    request returning a Reply, or None to fall back to the queue) chooses
    replies per request; ``port`` fixes the port (default: a free one).
    Recorded fixtures are served with :meth:`add_recordings` or
    :meth:`Reply.recorded`.
    """

    def __init__(self, *, default: Reply | None = None, port: int = 0,
                 responder: Callable[[RecordedRequest], Reply | None] | None = None) -> None:
        self.default = default
        #: Called with each request before the queue is looked at; a Reply it returns is served.
        self.responder = responder
        self._bind_port = port
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        #: Set each time a client closes a connection before its reply was complete.
        self.client_disconnected = threading.Event()
        self.open_connections = 0

    # --------------------------------------------------------------- control

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what a client's ``base_url`` should be."""
        return f"{self.url}/v1"

    def add(self, *replies: Reply) -> FakeServer:
        """Queue replies, served in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def add_recordings(self, *paths: str | Path) -> FakeServer:
        """Queue recorded fixtures (files, or directories read in name order), served in order."""
        from chatplug.testing._replay import load_recordings

        return self.add(*(recording.reply() for recording in load_recordings(paths)))

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request received (``AssertionError`` if none was)."""
        if not self.requests:
            raise AssertionError("FakeServer received no request")
        return self.requests[-1]

    def reset(self) -> None:
        """Forget recorded requests and drop queued replies (the server keeps running)."""
        with self._lock:
            self._queue.clear()
        self.requests.clear()
        self.client_disconnected.clear()

    def pending(self) -> int:
        """Replies queued and not served yet."""
        with self._lock:
            return len(self._queue)

    def start(self) -> FakeServer:
        """Start serving (done by ``with``)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        failed: list[OSError] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except OSError as exc:  # the port is taken, say
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="chatplug-fake-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failed:
            self._thread.join(10)
            loop.close()
            self._loop = None
            raise OSError(f"FakeServer cannot listen on 127.0.0.1:{self._bind_port}: {failed[0]}")
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._bind_port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and close every connection."""
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeServer:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --------------------------------------------------------------- serving

    def _next_reply(self, request: RecordedRequest | None = None) -> Reply:
        if self.responder is not None and request is not None:
            try:
                chosen = self.responder(request)
            except Exception as exc:  # noqa: BLE001 - reported to the client, the server keeps running
                return Reply.json({"error": {"message": f"FakeServer: the responder raised {type(exc).__name__}: "
                                                        f"{exc}", "type": "fake_server"}}, status=500)
            if chosen is not None:
                return chosen
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is not None:
            return self.default
        return Reply.json({"error": {"message": "FakeServer: no reply queued", "type": "fake_server"}}, status=500)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open_connections += 1
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest:
                    writer.write(_BAD_REQUEST)
                    await writer.drain()
                    return
                if request is None:
                    return
                self.requests.append(request)
                keep_open = await self._respond(request, self._next_reply(request), reader, writer)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].startswith("HTTP/"):
            raise _BadRequest(lines[0])
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            raise _BadRequest(headers["content-length"]) from None
        if length < 0:
            raise _BadRequest(headers["content-length"])
        body = await reader.readexactly(length) if length else b""
        path, _, query = target.partition("?")
        return RecordedRequest(method=method, path=path, query=query, headers=headers, body=body)

    async def _wait(self, seconds: float, reader: asyncio.StreamReader, request: RecordedRequest) -> bool:
        """Sleep, but notice a client that hangs up meanwhile. False if it did."""
        if seconds <= 0:
            return True
        try:
            data = await asyncio.wait_for(reader.read(1), timeout=seconds)
        except asyncio.TimeoutError:
            return True
        if data:
            return True  # a pipelined byte; harmless for these tests
        self._disconnected(request)
        return False

    def _disconnected(self, request: RecordedRequest) -> None:
        request.disconnected = True
        self.client_disconnected.set()

    async def _respond(
        self, request: RecordedRequest, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        if not await self._wait(reply.delay_before_headers, reader, request):
            return False
        streaming = reply.chunks is not None
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        for name, value in reply.headers:
            head.append(f"{name}: {value}")
        if streaming:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {len(reply.body)}")
        head.append("Connection: keep-alive")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not streaming:
            return await self._write_body(request, reply, reader, writer)
        sent_bytes = 0
        for number, piece in enumerate(_with_malformed_line(reply)):
            if reply.close_after_chunks is not None and number >= reply.close_after_chunks:
                return self._cut(writer)
            if number and not await self._wait(reply.delay_between_chunks, reader, request):
                return False
            if reply.close_after_bytes is not None and sent_bytes + len(piece) > reply.close_after_bytes:
                keep = reply.close_after_bytes - sent_bytes
                if keep > 0:
                    writer.write(b"%x\r\n" % keep + piece[:keep] + b"\r\n")
                    await writer.drain()
                return self._cut(writer)
            for part in _pieces(piece, reply.trickle):
                writer.write(b"%x\r\n" % len(part) + part + b"\r\n")
                try:
                    await writer.drain()
                except ConnectionError:
                    self._disconnected(request)
                    return False
                if reply.trickle and not await self._wait(reply.delay_between_chunks, reader, request):
                    return False
            sent_bytes += len(piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _write_body(
        self, request: RecordedRequest, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        body = reply.body
        if reply.close_after_bytes is not None:
            writer.write(body[: reply.close_after_bytes])
            await writer.drain()
            return self._cut(writer)
        for part in _pieces(body, reply.trickle):
            writer.write(part)
            try:
                await writer.drain()
            except ConnectionError:
                self._disconnected(request)
                return False
            if reply.trickle and not await self._wait(reply.delay_between_chunks, reader, request):
                return False
        return True

    @staticmethod
    def _cut(writer: asyncio.StreamWriter) -> bool:
        writer.transport.abort()
        return False


class _BadRequest(Exception):
    """A request the server cannot parse: it answers 400 and closes the connection."""


_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _with_malformed_line(reply: Reply) -> list[bytes]:
    chunks = list(reply.chunks or ())
    if reply.malformed_line_at is not None:
        chunks.insert(min(reply.malformed_line_at, len(chunks)), reply.malformed_line)
    return chunks


def _pieces(data: bytes, size: int | None) -> list[bytes]:
    if not size or len(data) <= size:
        return [data] if data else []
    return [data[i : i + size] for i in range(0, len(data), size)]


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
