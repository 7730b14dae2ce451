"""An ASGI response for server-sent events that stops its producer the moment the client leaves.

Pull-based: the next event is produced only after the previous one was
handed to the server (uvicorn's ``send`` waits while the socket's write
buffer is full), so a slow client slows the upstream read instead of filling
memory. A task watches for ``http.disconnect`` and cancels the producer, so
the upstream request is closed at once rather than at the next write (and
whatever the ASGI spec version the server announces).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["EventStreamResponse"]


class EventStreamResponse(Response):
    """``text/event-stream`` from an async generator of encoded events."""

    def __init__(self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str] | None = None,
                 on_close: Callable[[], Awaitable[None]] | None = None) -> None:
        self.status_code = 200
        self.on_close = on_close
        self.background = None
        self.events = events
        self.stream_headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",  # nginx: do not buffer the stream
            **(headers or {}),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.stream_headers.items()]
        try:
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch)
                await send({"type": "http.response.start", "status": 200, "headers": raw})
                async for piece in self.events:
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()  # runs the producer's cleanup (closing the upstream) now
                if self.on_close is not None:
                    await self.on_close()  # also when the producer never started
