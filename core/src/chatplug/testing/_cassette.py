"""Cassettes: record the chatplug calls a test makes once, replay them with no key and no network.

::

    from chatplug.testing import use_cassette

    with use_cassette("tests/cassettes/summary.json"):          # replays; fails on a request it does not hold
        app.summarize("...")

    with use_cassette("tests/cassettes/summary.json", record_mode="once"):   # records if the file is missing
        ...

Only chatplug's own calls are intercepted, wherever the app builds its
client. The cassette uses chatplug's public observer hook, not its internals:
while a cassette is active, an observer plugin is registered on the default
plugin registry (and on any ``registries=`` given); its
``chatplug_on_request`` (called for every attempt, right before that attempt's
request is sent, in the same thread or asyncio task) notes the attempt's
provider, model and URL in a :class:`contextvars.ContextVar`. The patched
httpx transport (``httpx.HTTPTransport`` / ``AsyncHTTPTransport``) claims that
note for the request it is about to send, and answers it from the cassette, or
sends and records it. Every other httpx request passes through untouched,
except one that looks like chatplug's but carries no note (see
:meth:`Cassette.untagged_problem`): it fails with :class:`CassetteMismatch`
and is never sent. Streams are stored event by event and replayed event by
event, so the app's streaming code runs as it would live. Keys and auth
headers never reach the file.

Record modes (nothing is ever recorded unless one is asked for):

- ``"none"`` (default): replay only; a request with no match raises
  :class:`CassetteMismatch` naming what differed.
- ``"once"``: record every call if the cassette file does not exist yet;
  otherwise like ``"none"``.
- ``"new"``: replay what matches, record (and append) what does not.
- ``"all"``: record every call again, replacing the file.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import attr
import httpx

from chatplug.hookspecs import hookimpl
from chatplug.testing._record import (
    Exchange,
    ScrubbedExchange,
    _AsyncTeeStream,
    _teed,
    _TeeStream,
    secret_parts,
    start_exchange,
)

if TYPE_CHECKING:
    from chatplug.events import RequestEvent
    from chatplug.plugins import PluginRegistry

__all__ = [
    "CASSETTE_FORMAT",
    "Cassette",
    "CassetteMismatch",
    "DEFAULT_MATCH_ON",
    "Interaction",
    "RECORD_MODES",
    "RecordMode",
    "SentRequest",
    "use_cassette",
]

RecordMode = Literal["none", "once", "new", "all"]
RECORD_MODES: tuple[str, ...] = ("none", "once", "new", "all")
#: What a request is matched on unless told otherwise.
DEFAULT_MATCH_ON: tuple[str, ...] = ("provider", "model", "body")
_MATCH_KEYS = ("provider", "model", "body", "url", "method", "stream")
#: The version of the cassette file layout.
CASSETTE_FORMAT = 1
#: The key put in a provider's key variable while replaying, so the app can build its client with no real key.
PLACEHOLDER_KEY = "chatplug-cassette-replay-no-key"


class CassetteMismatch(AssertionError):
    """A request the cassette holds no recording for, while it may not record one."""


@attr.frozen
class SentRequest:
    """What the app sent, as the matcher sees it."""

    provider: str
    model: str
    method: str
    url: str
    stream: bool
    #: The JSON body (a dict), credentials never in it.
    body: Any


@attr.define
class Interaction:
    """One recorded call: the request (without credentials) and the response."""

    provider: str
    model: str
    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def sent(self) -> SentRequest:
        """The recorded request in the form :class:`SentRequest` has."""
        body = self.request.get("body")
        return SentRequest(provider=self.provider, model=self.model, method=self.request.get("method", "POST"),
                           url=self.request.get("url", ""), stream=bool(isinstance(body, dict) and body.get("stream")),
                           body=body)

    def chunks(self) -> list[bytes]:
        """The response body as the pieces it is replayed in: SSE events, or the whole body."""
        response = self.response
        if "events" in response:
            return [event.encode("utf-8") for event in response["events"]]
        if "body_base64" in response:
            return [base64.b64decode(response["body_base64"])]
        body = response.get("body", "")
        return [body.encode("utf-8")] if body else []

    def to_json(self) -> dict[str, Any]:
        """The interaction as stored in the file."""
        return {"provider": self.provider, "model": self.model, "request": self.request, "response": self.response}

    @classmethod
    def from_exchange(cls, exchange: ScrubbedExchange) -> Interaction:
        """An interaction from a recorded, scrubbed exchange."""
        body = exchange.request_json()
        response: dict[str, Any] = {"status": exchange.status, "headers": exchange.response_headers}
        try:
            text = exchange.body.decode("utf-8")
        except UnicodeDecodeError:
            response["body_base64"] = base64.b64encode(exchange.body).decode("ascii")
        else:
            if exchange.is_stream:
                response["events"] = [event.decode("utf-8") for event in exchange.events()]
            else:
                response["body"] = text
        if not exchange.complete:
            response["complete"] = False
        return cls(provider=exchange.provider or "", model=exchange.model or "",
                   request={"method": exchange.method, "url": exchange.url, "headers": exchange.request_headers,
                            "body": body, "recorded_at": exchange.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                   response=response)


Matcher = Callable[[SentRequest, SentRequest], Sequence[str]]


def _without(body: Any, paths: Sequence[str]) -> Any:
    """``body`` with the dotted ``paths`` removed (``"user"``, ``"metadata.session"``)."""
    if not paths or not isinstance(body, dict):
        return body
    copied = json.loads(json.dumps(body))
    for path in paths:
        node: Any = copied
        *parents, last = path.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return copied


def body_differences(recorded: Any, sent: Any, where: str = "body") -> list[str]:
    """Each place two JSON values differ: ``body.messages[0].content: recorded 'Hi', sent 'Hello'``."""
    if isinstance(recorded, dict) and isinstance(sent, dict):
        found: list[str] = []
        for key in list(recorded) + [k for k in sent if k not in recorded]:
            if key not in sent:
                found.append(f"{where}.{key}: recorded {recorded[key]!r}, not sent")
            elif key not in recorded:
                found.append(f"{where}.{key}: sent {sent[key]!r}, not in the recording")
            else:
                found.extend(body_differences(recorded[key], sent[key], f"{where}.{key}"))
        return found
    if isinstance(recorded, list) and isinstance(sent, list):
        if len(recorded) != len(sent):
            return [f"{where}: recorded {len(recorded)} items, sent {len(sent)}"]
        pairs = enumerate(zip(recorded, sent, strict=True))
        return [line for i, (r, s) in pairs for line in body_differences(r, s, f"{where}[{i}]")]
    if recorded != sent or type(recorded) is not type(sent):
        return [f"{where}: recorded {_short(recorded)}, sent {_short(sent)}"]
    return []


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: The name the cassette's observer plugin is registered under.
TAGGER_NAME = "chatplug.testing.cassette"
#: How chatplug's own requests introduce themselves (``chatplug/<version> httpx/<version>``).
_CHATPLUG_USER_AGENT = "chatplug/"


@attr.define
class _Note:
    """What the observer learned about the attempt about to be sent in this context."""

    cassette: Cassette
    event: RequestEvent
    claimed: bool = False


#: The attempt announced to ``chatplug_on_request`` and not yet claimed by the transport, per thread / task.
_NOTE: contextvars.ContextVar[_Note | None] = contextvars.ContextVar("chatplug_cassette_note", default=None)


class _Tagger:
    """The observer plugin a cassette registers: notes each attempt for the patched transport.

    It only reads the public :class:`~chatplug.RequestEvent`; chatplug calls it
    right before it sends the attempt, in the same thread or asyncio task.
    """

    @hookimpl
    def chatplug_on_request(self, request: RequestEvent) -> None:
        """Note this attempt in the current context for the transport to claim."""
        cassette = _PATCHES.current()
        if cassette is not None:
            _NOTE.set(_Note(cassette=cassette, event=request))


_TAGGER = _Tagger()


def _no_query(url: httpx.URL) -> httpx.URL:
    """``url`` without its query, fragment and user info: what a request is matched on, and safe to show."""
    return url.copy_with(query=None, fragment=None, userinfo=b"")


class _Patches:
    """The process-wide hooks a cassette needs, installed while at least one cassette is active:
    the transport patches, and the observer plugin on each registry an active cassette watches."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.active: list[Cassette] = []
        self.saved: dict[str, Any] = {}
        #: id(registry) -> (registry, how many active cassettes watch it)
        self.watched: dict[int, tuple[PluginRegistry, int]] = {}

    def push(self, cassette: Cassette) -> None:
        with self.lock:
            watched: list[PluginRegistry] = []
            try:
                for registry in cassette.watched_registries():
                    self._watch(registry)
                    watched.append(registry)
            except BaseException:
                for registry in watched:
                    self._unwatch(registry)
                raise
            if not self.active:
                self._install()
            self.active.append(cassette)
            cassette._watching = watched

    def pop(self, cassette: Cassette) -> None:
        with self.lock:
            self.active.remove(cassette)
            if not self.active:
                self._uninstall()
            for registry in cassette._watching:  # the ones registered on entry, whatever changed since
                self._unwatch(registry)
            cassette._watching = []

    def current(self) -> Cassette | None:
        with self.lock:
            return self.active[-1] if self.active else None

    def _watch(self, registry: PluginRegistry) -> None:
        _, count = self.watched.get(id(registry), (registry, 0))
        if count == 0:
            registry.register(_TAGGER, name=TAGGER_NAME)
        self.watched[id(registry)] = (registry, count + 1)

    def _unwatch(self, registry: PluginRegistry) -> None:
        _, count = self.watched[id(registry)]
        if count > 1:
            self.watched[id(registry)] = (registry, count - 1)
            return
        del self.watched[id(registry)]
        registry.unregister(_TAGGER)

    def _install(self) -> None:
        handle = httpx.HTTPTransport.handle_request
        handle_async = httpx.AsyncHTTPTransport.handle_async_request
        self.saved = {"handle": handle, "handle_async": handle_async}
        patches = self

        def handle_request(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            cassette = patches.current()
            if cassette is None:
                return handle(transport, request)
            call = cassette._claim(request)
            if call is None:
                cassette._refuse_untagged(request)
                return handle(transport, request)
            return cassette._handle(request, call, lambda: handle(transport, request))

        async def handle_async_request(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
            cassette = patches.current()
            if cassette is None:
                return await handle_async(transport, request)
            call = cassette._claim(request)
            if call is None:
                cassette._refuse_untagged(request)
                return await handle_async(transport, request)
            return await cassette._handle_async(request, call, lambda: handle_async(transport, request))

        setattr(httpx.HTTPTransport, "handle_request", handle_request)  # noqa: B010 - a patch, undone on the last exit
        setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)  # noqa: B010

    def _uninstall(self) -> None:
        setattr(httpx.HTTPTransport, "handle_request", self.saved["handle"])  # noqa: B010
        setattr(httpx.AsyncHTTPTransport, "handle_async_request", self.saved["handle_async"])  # noqa: B010


_PATCHES = _Patches()


@attr.frozen
class _Call:
    """One attempt, as claimed by the transport: who it is for and what to scrub."""

    provider: str
    model: str
    stream: bool
    auth_header: str
    secrets: tuple[str, ...]


def _request_secrets(request: httpx.Request, event: RequestEvent) -> tuple[str, ...]:
    """Every credential in the request as it goes out, with its parts (see :func:`secret_parts`).

    The provider's auth header value (with its scheme, ``Bearer``, taken off),
    and each header the observer event shows redacted (any header a
    ``chatplug_credentials`` hook returned): the event's headers are the
    request's with each credential replaced, so a value that differs is one.
    """
    provider = event.provider
    values: list[str] = []
    auth = request.headers.get(provider.auth_header, "")
    if auth:
        values.append(auth)
        for scheme in {provider.auth_scheme, "Bearer"}:
            key = auth[len(scheme) + 1:].strip() if scheme and auth.lower().startswith(scheme.lower() + " ") else ""
            if len(key) >= 8:  # as secret_parts: a short fragment would scrub every place it occurs
                values.append(key)
    shown = {name.lower(): value for name, value in event.headers.items()}
    values.extend(value for name, value in request.headers.multi_items()
                  if name.lower() in shown and shown[name.lower()] != value)
    return secret_parts(values)


class _ReplayStream(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


class _AsyncReplayStream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class Cassette:
    """A file of recorded chatplug calls; use it as a context manager (sync or async).

    - ``path``: the JSON file.
    - ``record_mode``: ``"none"`` (default), ``"once"``, ``"new"`` or ``"all"``
      (see the module docs); nothing is recorded unless asked for.
    - ``match_on``: what must be equal for a recorded call to answer a
      request, from ``provider``, ``model``, ``body``, ``stream``, ``url``,
      ``method`` (default: provider, model and body).
    - ``ignore_body_fields``: dotted paths left out of the body comparison
      (``"user"``, ``"metadata.trace_id"``).
    - ``matcher``: ``f(recorded, sent) -> list of differences`` used instead
      of the rules above (an empty list is a match).
    - ``allow_repeats``: a recorded call may answer more than one request.
    - ``registries``: plugin registries of clients built with
      ``Client(registry=...)``; the cassette watches their calls too (the
      default registry is always watched).
    """

    def __init__(self, path: str | Path, *, record_mode: RecordMode | str = "none",
                 match_on: Sequence[str] = DEFAULT_MATCH_ON, ignore_body_fields: Sequence[str] = (),
                 matcher: Matcher | None = None, allow_repeats: bool = False,
                 registries: Sequence[PluginRegistry] = ()) -> None:
        if record_mode not in RECORD_MODES:
            raise ValueError(f"record_mode={record_mode!r}; expected one of {', '.join(RECORD_MODES)}")
        unknown = [key for key in match_on if key not in _MATCH_KEYS]
        if unknown:
            raise ValueError(f"match_on has {unknown}; expected some of {', '.join(_MATCH_KEYS)}")
        self.path = Path(path)
        self.record_mode: str = record_mode
        self.match_on = tuple(match_on)
        self.ignore_body_fields = tuple(ignore_body_fields)
        self.matcher = matcher
        self.allow_repeats = allow_repeats
        self.registries = tuple(registries)
        self.interactions: list[Interaction] = []
        #: How many times each recorded interaction was played.
        self.play_counts: list[int] = []
        #: Interactions recorded in this session.
        self.recorded: list[Interaction] = []
        #: Mismatch messages raised in this session (the pytest fixture fails the test on them).
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._existed = False
        self._secrets: set[str] = set()
        self._env: contextlib.ExitStack | None = None
        self._watching: list[PluginRegistry] = []
        self._load()

    def __repr__(self) -> str:
        return f"<chatplug Cassette {str(self.path)!r} record_mode={self.record_mode!r} " \
               f"{len(self.interactions)} interaction(s)>"

    # ------------------------------------------------------------- file

    def _load(self) -> None:
        self._existed = self.path.is_file()
        if not self._existed or self.record_mode == "all":
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cassette {self.path} cannot be read: {exc}") from None
        if not isinstance(data, dict) or data.get("chatplug_cassette") != CASSETTE_FORMAT:
            raise ValueError(f"cassette {self.path} is not a chatplug cassette (format {CASSETTE_FORMAT})")
        self.interactions = [Interaction(provider=item["provider"], model=item["model"], request=item["request"],
                                         response=item["response"]) for item in data.get("interactions", [])]
        self.play_counts = [0] * len(self.interactions)

    @property
    def replaying(self) -> bool:
        """Whether recorded calls answer requests (every mode but ``"all"``, and ``"once"`` on a new file)."""
        return self.record_mode == "none" or self.record_mode == "new" or (
            self.record_mode == "once" and self._existed)

    @property
    def recording(self) -> bool:
        """Whether a request with no match is sent and recorded."""
        return self.record_mode in ("new", "all") or (self.record_mode == "once" and not self._existed)

    def save(self) -> None:
        """Write the cassette (called on exit when something was recorded)."""
        kept = self.interactions if self.record_mode == "new" or (self.record_mode == "once" and self._existed) \
            else []
        everything = [*kept, *self.recorded]
        text = json.dumps({"chatplug_cassette": CASSETTE_FORMAT,
                           "interactions": [item.to_json() for item in everything]},
                          ensure_ascii=False, indent=2) + "\n"
        leaked = [secret for secret in self._secrets if secret and secret in text]
        if leaked:  # never reached: everything was scrubbed when recorded; a last guard before the disk
            raise RuntimeError(f"cassette {self.path}: a credential survived scrubbing; nothing was written")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text, encoding="utf-8")

    # ------------------------------------------------------------- activation

    def __enter__(self) -> Cassette:
        self._env = contextlib.ExitStack()
        if self.record_mode == "none" or (self.record_mode == "once" and self._existed):
            self._set_placeholder_keys(self._env)
        try:
            _PATCHES.push(self)
        except BaseException:
            self._env.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _PATCHES.pop(self)
        if self._env is not None:
            self._env.close()
        if self.recorded or (self.record_mode == "all" and exc_type is None and not self.errors):
            self.save()  # a failed "all" session (even one whose app caught the mismatch) keeps the old file

    async def __aenter__(self) -> Cassette:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def _set_placeholder_keys(self, stack: contextlib.ExitStack) -> None:
        """Give each provider of a watched registry with no key set a placeholder, so clients build with no
        real key."""
        for registry in self.watched_registries():
            try:
                providers = registry.providers().values()
            except Exception:  # noqa: BLE001 - a broken plugin is the app's business; replay still works with keys
                continue
            for provider in providers:
                if provider.api_key_env and not any(os.environ.get(name) for name in provider.api_key_env):
                    name = provider.api_key_env[0]
                    os.environ[name] = PLACEHOLDER_KEY
                    stack.callback(os.environ.pop, name, None)

    def watched_registries(self) -> list[PluginRegistry]:
        """The registries whose clients this cassette intercepts: the default one and ``registries``."""
        from chatplug.plugins import default_registry

        found: dict[int, PluginRegistry] = {}
        for registry in (default_registry(), *self.registries):
            found.setdefault(id(registry), registry)
        return list(found.values())

    # ------------------------------------------------------------- requests

    def _claim(self, request: httpx.Request) -> _Call | None:
        """The attempt the observer noted for ``request`` in this thread / task, taken once; None if none was."""
        note = _NOTE.get()
        if note is None or note.claimed or note.cassette is not self:
            return None
        event = note.event
        if request.method != event.method or _no_query(request.url) != _no_query(httpx.URL(event.url)):
            return None  # the note is for another request (this one is the app's own traffic)
        note.claimed = True
        _NOTE.set(None)
        secrets = _request_secrets(request, event)
        with self._lock:
            self._secrets.update(secret for secret in secrets if secret != PLACEHOLDER_KEY)
        return _Call(provider=event.provider.id, model=event.model, stream=event.stream,
                     auth_header=event.provider.auth_header, secrets=secrets)

    def untagged_problem(self, request: httpx.Request) -> str | None:
        """Why ``request``, which no ``chatplug_on_request`` announced, may not be sent; None if it may.

        A request is refused when it looks like a chatplug call: it carries
        chatplug's ``User-Agent``, or it goes to ``<base URL>/chat/completions``
        of a provider of a watched registry (its default URL, a named endpoint,
        or its base-URL variable). Anything else is the app's own traffic and
        passes through.
        """
        url = _no_query(request.url)
        from_chatplug = request.headers.get("user-agent", "").startswith(_CHATPLUG_USER_AGENT)
        provider = self._provider_at(url)
        if not from_chatplug and provider is None:
            return None
        seen = f"it goes to {provider}'s URL" if provider else "it has chatplug's User-Agent"
        return (f"cassette {self.path}: a chatplug request reached the network layer without being announced to "
                f"the cassette ({request.method} {url}; {seen}), so it can be neither matched nor recorded; "
                f"it was not sent.\n  the cassette learns of each attempt through the chatplug_on_request hook "
                f"of the client's plugin registry: a client built with Client(registry=...) needs "
                f"use_cassette(..., registries=[that registry]); otherwise see the log for "
                f"'chatplug observer {TAGGER_NAME}.chatplug_on_request raised'")

    def _provider_at(self, url: httpx.URL) -> str | None:
        """The id of the watched provider whose chat completions URL ``url`` is, if any."""
        for registry in self._watching or self.watched_registries():
            try:
                providers = registry.providers().values()
            except Exception:  # noqa: BLE001 - a broken registry knows no URL; the User-Agent check still applies
                continue
            for provider in providers:
                bases = {provider.base_url, *provider.endpoints.values()}
                with contextlib.suppress(Exception):
                    bases.add(provider.resolve_base_url(None, os.environ))
                for base in bases:
                    with contextlib.suppress(httpx.InvalidURL):
                        if httpx.URL(base.rstrip("/") + "/chat/completions") == url:
                            return provider.id
        return None

    def _refuse_untagged(self, request: httpx.Request) -> None:
        problem = self.untagged_problem(request)
        if problem is not None:
            raise self._fail(problem)

    def _sent(self, request: httpx.Request, call: _Call) -> SentRequest:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = request.content.decode("utf-8", "replace")
        return SentRequest(provider=call.provider, model=call.model, method=request.method, url=str(request.url),
                           stream=call.stream, body=body)

    def differences(self, recorded: SentRequest, sent: SentRequest) -> list[str]:
        """How a recorded request differs from a sent one, under this cassette's rules."""
        if self.matcher is not None:
            return list(self.matcher(recorded, sent))
        found: list[str] = []
        for key in self.match_on:
            if key == "body":
                found.extend(body_differences(_without(recorded.body, self.ignore_body_fields),
                                              _without(sent.body, self.ignore_body_fields)))
            elif getattr(recorded, key) != getattr(sent, key):
                found.append(f"{key}: recorded {getattr(recorded, key)!r}, sent {getattr(sent, key)!r}")
        return found

    def _find(self, sent: SentRequest) -> tuple[int | None, str]:
        """The index of the interaction answering ``sent``, or None and why not."""
        with self._lock:
            scored = [(self.differences(item.sent, sent), index) for index, item in enumerate(self.interactions)]
            for differences, index in scored:
                if not differences and (self.play_counts[index] == 0 or self.allow_repeats):
                    self.play_counts[index] += 1
                    return index, ""
        head = (f"cassette {self.path}: no recorded call matches this request "
                f"(provider={sent.provider!r} model={sent.model!r} stream={sent.stream}; "
                f"matching on {', '.join(self.match_on) if self.matcher is None else 'a custom matcher'}; "
                f"record_mode={self.record_mode!r}, so nothing new is recorded).")
        if not self.interactions:
            reason = f"{head}\n  the cassette holds no calls" + ("" if self._existed else " (the file does not exist)")
        else:
            used = [index for differences, index in scored if not differences]
            if used:
                reason = (f"{head}\n  it matches call #{used[0] + 1}, which was already played "
                          "(each recorded call answers one request; pass allow_repeats=True to reuse them)")
            else:
                differences, index = min(scored, key=lambda pair: len(pair[0]))
                shown = "\n    ".join(differences[:8]) + ("\n    ..." if len(differences) > 8 else "")
                reason = f"{head}\n  nearest recorded call #{index + 1} differs:\n    {shown}"
        mode = "new" if self._existed else "once"
        hint = (f"\n  to record it: run with the provider's key set and CHATPLUG_RECORD={mode} "
                f"(or pytest --chatplug-record={mode}); record_mode='all' records the whole test again")
        return None, reason + hint

    def _replayed(self, request: httpx.Request, index: int, *, asynchronous: bool) -> httpx.Response:
        interaction = self.interactions[index]
        chunks = interaction.chunks()
        stream: httpx.SyncByteStream | httpx.AsyncByteStream = (
            _AsyncReplayStream(chunks) if asynchronous else _ReplayStream(chunks))
        return httpx.Response(int(interaction.response.get("status", 200)),
                              headers=list(interaction.response.get("headers", {}).items()),
                              stream=stream, request=request)

    def _fail(self, message: str) -> CassetteMismatch:
        self.errors.append(message)
        return CassetteMismatch(message)

    def _done(self, call: _Call) -> Callable[[Exchange], None]:
        def keep(exchange: Exchange) -> None:
            exchange.provider = call.provider
            exchange.model = call.model
            if not exchange.status:
                return  # the connection failed: nothing came back to record
            with self._lock:
                self.recorded.append(Interaction.from_exchange(exchange.scrubbed(call.auth_header, call.secrets)))
        return keep

    def _handle(self, request: httpx.Request, call: _Call, send: Callable[[], httpx.Response]) -> httpx.Response:
        sent = self._sent(request, call)
        reason = ""
        if self.replaying:
            index, reason = self._find(sent)
            if index is not None:
                return self._replayed(request, index, asynchronous=False)
        if not self.recording:
            raise self._fail(reason)
        exchange = start_exchange(request)
        response = send()
        assert isinstance(response.stream, httpx.SyncByteStream)
        return _teed(request, response, exchange, _TeeStream(response.stream, exchange, self._done(call)))

    async def _handle_async(self, request: httpx.Request, call: _Call, send: Callable[[], Any]) -> httpx.Response:
        sent = self._sent(request, call)
        reason = ""
        if self.replaying:
            index, reason = self._find(sent)
            if index is not None:
                return self._replayed(request, index, asynchronous=True)
        if not self.recording:
            raise self._fail(reason)
        exchange = start_exchange(request)
        response: httpx.Response = await send()
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return _teed(request, response, exchange, _AsyncTeeStream(response.stream, exchange, self._done(call)))


def use_cassette(path: str | Path, *, record_mode: RecordMode | str | None = None,
                 match_on: Sequence[str] = DEFAULT_MATCH_ON, ignore_body_fields: Sequence[str] = (),
                 matcher: Matcher | None = None, allow_repeats: bool = False,
                 registries: Sequence[PluginRegistry] = ()) -> Cassette:
    """A :class:`Cassette` to use with ``with`` (or ``async with``) in any test runner.

    ``record_mode`` defaults to the ``CHATPLUG_RECORD`` environment variable,
    else ``"none"``: replay only.
    """
    mode = record_mode if record_mode is not None else os.environ.get("CHATPLUG_RECORD") or "none"
    return Cassette(path, record_mode=mode, match_on=match_on, ignore_body_fields=ignore_body_fields,
                    matcher=matcher, allow_repeats=allow_repeats, registries=registries)
