"""Recording what a provider sends back, byte for byte, at the httpx transport level.

The core needs no change: :class:`RecordingTransport` (and its async twin)
wraps the transport of an ``httpx.Client`` lent to a chatplug client, tees the
response body as the client reads it, and hands each finished
:class:`Exchange` to a callback. Credentials are removed from everything kept
(:meth:`Exchange.scrubbed`), and :func:`save_fixture` writes an exchange as a
fixture: the body file (``.sse``, ``.json`` or ``.txt``) and the provenance
``.source.txt`` the conformance kit and :mod:`chatplug.testing._replay` read.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attr
import httpx

from chatplug import __version__
from chatplug.testing._server import sse_events

__all__ = [
    "AsyncRecordingTransport",
    "Exchange",
    "PROMPT_REMOVED",
    "REDACTED",
    "RecordingTransport",
    "body_suffix",
    "existing_recording",
    "kept_response_headers",
    "redact_prompt",
    "save_fixture",
    "scrub_bytes",
    "secret_parts",
]

#: What a secret is replaced with in every recorded file.
REDACTED = "***"
#: What ``--strip-prompt`` puts in place of each message's text.
PROMPT_REMOVED = "[prompt removed]"

#: Request headers never written to a file: credentials, cookies, and the hop-by-hop ones httpx adds.
_DROPPED_REQUEST_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
    "host", "content-length", "connection", "accept-encoding", "transfer-encoding",
})
#: Response headers worth keeping: content type, request ids, rate limits, retry hints.
_KEPT_RESPONSE_HEADER = re.compile(
    r"^(content-type|retry-after|date|(x-)?request-id|x-.*request-id|.*trace-?id|.*ratelimit.*|.*rate-limit.*|"
    r"openai-.*|x-.*-version|msh-.*)$",
    re.IGNORECASE,
)
#: Header name used by the cassette to tie an httpx request to the chatplug call that built it.
CALL_TAG_HEADER = "x-chatplug-cassette-call"


def secret_parts(values: Iterable[str]) -> tuple[str, ...]:
    """The secrets to scrub: each value, and each whitespace-separated part of
    it at least 8 characters long (so ``Bearer sk-...`` also scrubs ``sk-...``)."""
    found: list[str] = []
    for value in values:
        if not value:
            continue
        found.append(value)
        found.extend(part for part in value.split() if len(part) >= 8 and part != value)
    return tuple(sorted(set(found), key=len, reverse=True))  # longest first: a part never splits a whole


def scrub_bytes(data: bytes, secrets: Iterable[str]) -> tuple[bytes, int]:
    """``data`` with every secret replaced by ``***``, and how many places changed."""
    count = 0
    for secret in secrets:
        raw = secret.encode()
        if raw and raw in data:
            count += data.count(raw)
            data = data.replace(raw, REDACTED.encode())
    return data, count


def kept_response_headers(headers: Iterable[tuple[str, str]], secrets: Iterable[str] = ()) -> dict[str, str]:
    """The response headers a recording keeps (lower-case names), secrets scrubbed."""
    kept: dict[str, str] = {}
    secrets = tuple(secrets)
    for name, value in headers:
        lower = name.lower()
        if _KEPT_RESPONSE_HEADER.match(lower) and lower != "set-cookie":
            kept[lower] = scrub_bytes(value.encode(), secrets)[0].decode()
    return kept


def _request_headers(headers: Iterable[tuple[str, str]], auth_header: str | None,
                     secrets: tuple[str, ...]) -> dict[str, str]:
    dropped = _DROPPED_REQUEST_HEADERS | ({auth_header.lower()} if auth_header else set()) | {CALL_TAG_HEADER}
    kept: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in dropped or any(secret in value for secret in secrets):
            continue
        kept[name] = value
    return kept


def body_suffix(content_type: str, body: bytes) -> str:
    """The fixture file suffix: ``.sse`` for a stream, ``.json`` for a JSON body, else ``.txt``."""
    if content_type.lower().startswith("text/event-stream"):
        return ".sse"
    try:
        json.loads(body)
    except ValueError:
        return ".txt"
    return ".json"


def redact_prompt(payload: Any, replacement: str) -> Any:
    """A copy of a request body whose message texts (and text parts) are ``replacement``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return payload
    messages = []
    for message in payload["messages"]:
        if not isinstance(message, dict) or message.get("role") not in ("user", "system", "developer"):
            messages.append(message)
            continue
        content = message.get("content")
        if isinstance(content, str):
            message = {**message, "content": replacement}
        elif isinstance(content, list):
            parts = [{**part, "text": replacement} if isinstance(part, dict) and "text" in part else part
                     for part in content]
            message = {**message, "content": parts}
        messages.append(message)
    return {**payload, "messages": messages}


@attr.define
class Exchange:
    """One request and the response to it, as they crossed the wire.

    ``chunks`` are the body pieces as the transport delivered them (still
    compressed if the server used a ``Content-Encoding``; :attr:`body` undoes
    it). Nothing here is scrubbed: call :meth:`scrubbed`.
    """

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    recorded_at: _dt.datetime
    status: int = 0
    response_headers: list[tuple[str, str]] = attr.field(factory=list)
    chunks: list[bytes] = attr.field(factory=list)
    #: Whether the body was read to its end (a client that stops early leaves it False).
    complete: bool = False
    #: A transport error that ended the exchange, if any.
    error: str | None = None
    #: Filled in by whoever knows: the cassette from the chatplug call, the recorder from its arguments.
    provider: str | None = None
    model: str | None = None

    @property
    def raw_body(self) -> bytes:
        """The body bytes as the transport delivered them (possibly compressed)."""
        return b"".join(self.chunks)

    @property
    def body(self) -> bytes:
        """The body with any ``Content-Encoding`` undone: the bytes the client decoded."""
        encoding = self.header("content-encoding")
        if not encoding or encoding.lower() == "identity":
            return self.raw_body
        decoded = httpx.Response(200, headers={"content-encoding": encoding}, content=self.raw_body)
        try:
            return decoded.read()
        except httpx.DecodingError:  # a body cut short cannot be decompressed: keep the bytes that came
            return self.raw_body

    def header(self, name: str) -> str | None:
        """A response header's value (case-insensitive), or None."""
        for key, value in self.response_headers:
            if key.lower() == name.lower():
                return value
        return None

    def secrets(self, auth_header: str | None = None, extra: Iterable[str] = ()) -> tuple[str, ...]:
        """The secrets this exchange carries: the auth header's value (and
        ``Authorization`` / ``x-api-key`` / ``api-key`` if present) plus ``extra``."""
        names = {"authorization", "proxy-authorization", "x-api-key", "api-key"}
        if auth_header:
            names.add(auth_header.lower())
        values = [value for name, value in self.request_headers if name.lower() in names]
        return secret_parts([*values, *extra])

    def scrubbed(self, auth_header: str | None = None, extra_secrets: Iterable[str] = ()) -> ScrubbedExchange:
        """The exchange with every credential removed from the request and the response."""
        secrets = self.secrets(auth_header, extra_secrets)
        request_body, in_request = scrub_bytes(self.request_body, secrets)
        body, in_body = scrub_bytes(self.body, secrets)
        url, in_url = scrub_bytes(self.url.encode(), secrets)
        return ScrubbedExchange(
            provider=self.provider,
            model=self.model,
            method=self.method,
            url=url.decode(),
            request_headers=_request_headers(self.request_headers, auth_header, secrets),
            request_body=request_body,
            status=self.status,
            response_headers=kept_response_headers(self.response_headers, secrets),
            body=body,
            recorded_at=self.recorded_at,
            complete=self.complete,
            error=scrub_bytes(self.error.encode(), secrets)[0].decode() if self.error else None,
            redactions=in_request + in_body + in_url,
        )


@attr.frozen
class ScrubbedExchange:
    """An :class:`Exchange` with no credential left in it: what gets written to files."""

    provider: str | None
    model: str | None
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    body: bytes
    recorded_at: _dt.datetime
    complete: bool
    error: str | None
    #: How many places a secret was replaced by ``***`` (a provider may echo a key back).
    redactions: int

    @property
    def content_type(self) -> str:
        """The response's content type ('' if none)."""
        return self.response_headers.get("content-type", "")

    @property
    def is_stream(self) -> bool:
        """Whether the response is an SSE stream."""
        return self.content_type.lower().startswith("text/event-stream")

    def request_json(self) -> Any:
        """The request body parsed as JSON (the raw text if it is not JSON)."""
        try:
            return json.loads(self.request_body)
        except ValueError:
            return self.request_body.decode("utf-8", "replace")

    def events(self) -> list[bytes]:
        """The body split into SSE events, verbatim (one piece if not a stream)."""
        return sse_events(self.body) if self.is_stream else ([self.body] if self.body else [])


_TeeDone = Callable[[Exchange], None]


class _TeeStream(httpx.SyncByteStream):
    """A response body that copies each piece into the exchange as the client reads it.

    When the client closes the body before its end (chatplug stops reading at
    an error, or the app breaks out of a stream), the rest is read into the
    exchange first: a recording holds everything the server sent, not only
    what the client chose to read.
    """

    def __init__(self, inner: httpx.SyncByteStream, exchange: Exchange, done: _TeeDone) -> None:
        self._inner = inner
        self._source: Iterator[bytes] | None = None
        self._exchange = exchange
        self._done = done
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        self._source = iter(self._inner)
        try:
            for chunk in self._source:
                self._exchange.chunks.append(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            self._exchange.error = f"{type(exc).__name__}: {exc}"
            raise
        self._exchange.complete = True

    def _read_rest(self) -> None:
        exchange = self._exchange
        if self._source is None or exchange.complete or exchange.error is not None:
            return
        try:
            for chunk in self._source:
                exchange.chunks.append(chunk)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
        else:
            exchange.complete = True

    def close(self) -> None:
        try:
            self._read_rest()
            self._inner.close()
        finally:
            if not self._finished:
                self._finished = True
                self._done(self._exchange)


class _AsyncTeeStream(httpx.AsyncByteStream):
    """The asyncio twin of :class:`_TeeStream` (the rest of a body closed early is read too)."""

    def __init__(self, inner: httpx.AsyncByteStream, exchange: Exchange, done: _TeeDone) -> None:
        self._inner = inner
        self._source: AsyncIterator[bytes] | None = None
        self._exchange = exchange
        self._done = done
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._source = self._inner.__aiter__()
        try:
            async for chunk in self._source:
                self._exchange.chunks.append(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            self._exchange.error = f"{type(exc).__name__}: {exc}"
            raise
        self._exchange.complete = True

    async def _read_rest(self) -> None:
        exchange = self._exchange
        if self._source is None or exchange.complete or exchange.error is not None:
            return
        try:
            async for chunk in self._source:
                exchange.chunks.append(chunk)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
        else:
            exchange.complete = True

    async def aclose(self) -> None:
        try:
            await self._read_rest()
            await self._inner.aclose()
        finally:
            if not self._finished:
                self._finished = True
                self._done(self._exchange)


def start_exchange(request: httpx.Request) -> Exchange:
    """An exchange holding ``request`` (its body read), awaiting the response."""
    return Exchange(
        method=request.method,
        url=str(request.url),
        request_headers=[(name, value) for name, value in request.headers.multi_items()],
        request_body=request.content,
        recorded_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0),
    )


def _teed(request: httpx.Request, response: httpx.Response, exchange: Exchange,
          stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.Response:
    exchange.status = response.status_code
    exchange.response_headers = list(response.headers.multi_items())
    return httpx.Response(response.status_code, headers=response.headers, stream=stream,
                          extensions=response.extensions, request=request)


class RecordingTransport(httpx.BaseTransport):
    """An httpx transport that records each exchange passing through ``inner``.

    ``on_exchange`` is called once per exchange, when the client closes the
    response (after reading it, or on giving up early). Use it with
    ``httpx.Client(transport=RecordingTransport(...))`` lent to a chatplug
    ``Client(http_client=...)``.
    """

    def __init__(self, on_exchange: _TeeDone, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.HTTPTransport()
        self._on_exchange = on_exchange

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the wrapped transport, teeing the response body."""
        request.read()
        exchange = start_exchange(request)
        try:
            response = self._inner.handle_request(request)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            self._on_exchange(exchange)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        return _teed(request, response, exchange, _TeeStream(response.stream, exchange, self._on_exchange))

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of :class:`RecordingTransport`."""

    def __init__(self, on_exchange: _TeeDone, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._on_exchange = on_exchange

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the wrapped transport, teeing the response body."""
        await request.aread()
        exchange = start_exchange(request)
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            self._on_exchange(exchange)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return _teed(request, response, exchange, _AsyncTeeStream(response.stream, exchange, self._on_exchange))

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


# ------------------------------------------------------------------ fixtures


def _one_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _describe_body(exchange: ScrubbedExchange) -> str:
    body = exchange.body
    if not exchange.is_stream:
        return f"{len(body)} bytes"
    events = sse_events(body)
    data = sum(1 for event in events if event.lstrip().startswith(b"data:"))
    comments = sum(1 for event in events if event.lstrip().startswith(b":"))
    endings = "CRLF" if b"\r\n" in body else ("CR" if b"\r" in body else "LF")
    return f"{len(events)} events ({data} data, {comments} comment/keep-alive), line endings {endings}"


def source_text(exchange: ScrubbedExchange, *, provider_name: str = "", base_url_note: str = "",
                prompt_note: str = "as sent", request: Any = None, note: str = "") -> str:
    """The provenance sidecar for one exchange (see docs/recording.md for the format)."""
    request = exchange.request_json() if request is None else request
    when = exchange.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    who = f"{exchange.provider} ({provider_name})" if provider_name else str(exchange.provider)
    changes = ["request credentials removed (auth header dropped)"]
    if exchange.redactions:
        changes.append(f"a secret found in the bytes was replaced by {REDACTED} in {exchange.redactions} place(s)")
    if prompt_note != "as sent":
        changes.append(f"prompt text {prompt_note} in the Request line only")
    state = "complete" if exchange.complete else "INCOMPLETE (the body was not read to its end)"
    kind = "CAPTURE through an overridden base URL" if base_url_note else "LIVE CAPTURE"
    lines = [
        f"Source: recorded with `python -m chatplug.testing record` (chatplug {__version__}) from {who}"
        f"{base_url_note}.",
        f"Recorded: {when}",
        f"Provider: {exchange.provider}",
        f"Model: {exchange.model}",
        f"Endpoint: {exchange.method} {exchange.url}",
        f"Request: {_one_line(request)}",
        f"Request-Headers: {_one_line(exchange.request_headers)}",
        f"Response: HTTP {exchange.status}",
        f"Response-Headers: {_one_line(exchange.response_headers)}",
        f"Class: {kind}, verbatim body, {state}: {_describe_body(exchange)}.",
        f"Prompt: {prompt_note}.",
        f"Changes: {'; '.join(changes)}.",
    ]
    if exchange.error:
        lines.append(f"Transport-Error: {exchange.error}")
    if note:
        lines.append(f"Note: {note}")
    return "\n".join(lines) + "\n"


def save_fixture(exchange: ScrubbedExchange, directory: str | Path, name: str, *, provider_name: str = "",
                 base_url_note: str = "", prompt_replacement: str | None = None, note: str = "",
                 overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.sse|.json|.txt`` (the body, verbatim) and ``NAME.source.txt``.

    ``prompt_replacement`` replaces each message text in the stored request
    (the response is kept as it came). Returns (body path, sidecar path).
    Refuses to overwrite existing files unless ``overwrite``.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    body_path = folder / (name + body_suffix(exchange.content_type, exchange.body))
    source_path = folder / (name + ".source.txt")
    if not overwrite:
        existing = existing_recording(folder, name)
        if existing is not None:
            raise FileExistsError(f"{existing} exists; pick another --name or pass --force to replace it")
    request = exchange.request_json()
    prompt_note = "as sent"
    if prompt_replacement is not None:
        request = redact_prompt(request, prompt_replacement)
        prompt_note = "removed" if prompt_replacement == PROMPT_REMOVED else f"replaced by {prompt_replacement!r}"
    for stale in (folder / (name + suffix) for suffix in (".sse", ".json", ".txt")):
        if stale != body_path and stale.exists() and overwrite:
            stale.unlink()
    body_path.write_bytes(exchange.body)
    source_path.write_text(
        source_text(exchange, provider_name=provider_name, base_url_note=base_url_note, prompt_note=prompt_note,
                    request=request, note=note),
        encoding="utf-8",
    )
    return body_path, source_path


def existing_recording(directory: str | Path, name: str) -> Path | None:
    """The body file ``NAME.sse|.json|.txt`` already in ``directory``, if any (what
    :func:`save_fixture` refuses to replace without ``overwrite``)."""
    folder = Path(directory)
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.glob(f"{glob_escape(name)}.*") if p.suffix in (".sse", ".json", ".txt"))
    return found[0] if found else None


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# ------------------------------------------------------------------ one call


class NothingRecorded(Exception):
    """The request never got a response (the connection failed): there is nothing to store."""


@attr.frozen
class Recorded:
    """What :func:`record_call` captured, scrubbed, and how the client read it."""

    exchange: ScrubbedExchange
    #: How chatplug decoded the reply: ``"ChatCompletion (finish_reason=stop)"`` or the error it raised.
    outcome: str
    #: The provider record the call went to.
    provider: Any
    #: The error chatplug raised for this response (None when it decoded to a completion).
    error: Any = None


def record_call(*, provider: str, model: str, messages: list[dict[str, Any]], stream: bool = False,
                params: Mapping[str, Any] | None = None, base_url: str | None = None, endpoint: str | None = None,
                timeout: float = 120.0, registry: Any = None) -> Recorded:
    """Send one chat-completions request through chatplug and capture what came back.

    The request goes out exactly as chatplug builds it for ``provider``
    (``base_url`` overrides where it is sent). Nothing is retried. The
    response is kept whatever its status; the key (the provider's auth
    header and the values of its ``api_key_env`` variables) is scrubbed.
    """
    from chatplug._client import Client
    from chatplug.errors import APIError
    from chatplug.plugins import default_registry

    registry = registry if registry is not None else default_registry()
    record = registry.provider(provider)
    captured: list[Exchange] = []
    outcome = "no response"
    error: APIError | None = None
    with httpx.Client(transport=RecordingTransport(captured.append), timeout=timeout) as http, \
            Client(provider=record, base_url=base_url, endpoint=endpoint, http_client=http, max_retries=0,
                   timeout=timeout, registry=registry) as client:
        try:
            if stream:
                with client.chat.completions.create(model=model, messages=messages, stream=True,
                                                    **dict(params or {})) as chunks:
                    for _ in chunks:
                        pass
                    final = chunks.get_final_completion()
            else:
                final = client.chat.completions.create(model=model, messages=messages, **dict(params or {}))
            reasons = ",".join(str(choice.finish_reason) for choice in final.choices)
            outcome = f"ChatCompletion (finish_reason={reasons})"
        except APIError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
            error = exc
    if not captured or not captured[-1].status:
        raise NothingRecorded(f"nothing was recorded: {outcome}")
    exchange = captured[-1]
    exchange.provider = record.id
    exchange.model = model
    env_keys = [os.environ[name] for name in record.api_key_env if os.environ.get(name)]
    return Recorded(exchange.scrubbed(record.auth_header, env_keys), outcome, record, error)
