"""Reading recorded fixtures back: the replay side of ``python -m chatplug.testing record``.

A recording is a body file (``NAME.sse``, ``NAME.json`` or ``NAME.txt``) and
its provenance sidecar ``NAME.source.txt``. The sidecar's ``Response:``,
``Response-Headers:`` and ``Request:`` lines give the status, the headers and
the request; a hand-written sidecar without them still works (status from a
``Response: HTTP/2 200`` style line or an ``HTTP status: 429.`` line if there
is one, else 200, or 400 for a JSON body holding an ``error`` object).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attr

from chatplug.testing._server import RecordedRequest, Reply, sse_events

__all__ = ["Recording", "RecordingPlayer", "load_recording", "load_recordings"]

_BODY_SUFFIXES = (".sse", ".json", ".txt")
_STATUS = re.compile(r"HTTP(?:/[0-9.]+)?\s+(\d{3})")
#: The hand-written sidecars' form (``HTTP status: 429.``), when there is no ``Response:`` line.
_HAND_WRITTEN_STATUS = re.compile(r"^HTTP status:\s*(\d{3})\b", re.MULTILINE)


@attr.frozen
class Recording:
    """One recorded response (and, if the sidecar says, the request that got it)."""

    path: Path
    status: int
    headers: dict[str, str]
    body: bytes
    #: The recorded request body (parsed JSON), or None when the sidecar does not hold it.
    request: Any = None

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name

    @property
    def is_stream(self) -> bool:
        """Whether the body is an SSE stream."""
        return self.path.suffix == ".sse" or self.headers.get("content-type", "").startswith("text/event-stream")

    @property
    def model(self) -> str | None:
        """The model of the recorded request; failing that, the model the response names."""
        if isinstance(self.request, dict) and isinstance(self.request.get("model"), str):
            return str(self.request["model"])
        first = self.body
        if self.is_stream:
            events = [e.strip() for e in sse_events(self.body) if e.strip().startswith(b"data:")]
            first = events[0][len(b"data:"):] if events else b""
        parsed = _json_or_none(first)
        model = parsed.get("model") if isinstance(parsed, dict) else None
        return model if isinstance(model, str) else None

    def reply(self) -> Reply:
        """A :class:`Reply` sending this recording back byte for byte (a stream event by event)."""
        headers = tuple(self.headers.items())
        if self.is_stream:
            if "content-type" not in self.headers:
                headers = (("content-type", "text/event-stream"), *headers)
            return Reply(status=self.status, headers=headers, chunks=tuple(sse_events(self.body)))
        if "content-type" not in self.headers:
            kind = "application/json" if self.path.suffix == ".json" else "text/plain; charset=utf-8"
            headers = (("content-type", kind), *headers)
        return Reply(status=self.status, headers=headers, body=self.body)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name.rsplit(".", 1)[0] + ".source.txt")


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def load_recording(path: str | Path) -> Recording:
    """Read one recording from its body file (the sidecar next to it is optional)."""
    path = Path(path)
    if path.name.endswith(".source.txt"):
        matches = [path.with_name(path.name[: -len(".source.txt")] + s) for s in _BODY_SUFFIXES]
        found = [p for p in matches if p.is_file()]
        if not found:
            raise FileNotFoundError(f"{path} is a provenance sidecar with no body file next to it "
                                    f"(looked for {', '.join(p.name for p in matches)})")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}")
    body = path.read_bytes()
    sidecar = _sidecar(path)
    sidecar_text = sidecar.read_text(encoding="utf-8") if sidecar.is_file() else ""
    fields = _fields(sidecar_text)
    status_match = _STATUS.search(fields.get("Response", "")) or _HAND_WRITTEN_STATUS.search(sidecar_text)
    headers: dict[str, str] = {}
    if fields.get("Response-Headers"):
        try:
            loaded = json.loads(fields["Response-Headers"])
        except ValueError as exc:
            raise ValueError(f"{sidecar}: the Response-Headers line is not JSON: {exc}") from None
        headers = {str(k).lower(): str(v) for k, v in loaded.items()}
    request: Any = None
    if fields.get("Request", "").startswith("{"):
        try:
            request = json.loads(fields["Request"])
        except ValueError:
            request = None
    if status_match:
        status = int(status_match.group(1))
    else:
        status = 200
        if path.suffix == ".json":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and "error" in parsed and "choices" not in parsed:
                status = 400
    return Recording(path=path, status=status, headers=headers, body=body, request=request)


def load_recordings(paths: Iterable[str | Path]) -> list[Recording]:
    """Recordings from files and directories (a directory: every body file in it, by name)."""
    found: list[Recording] = []
    for item in paths:
        item = Path(item)
        if item.is_dir():
            bodies = sorted(p for p in item.iterdir() if p.suffix in _BODY_SUFFIXES and not
                            p.name.endswith(".source.txt") and p.is_file())
            if not bodies:
                raise FileNotFoundError(f"{item} holds no recording (.sse, .json or .txt files)")
            found.extend(load_recording(p) for p in bodies)
        else:
            found.append(load_recording(item))
    return found


class RecordingPlayer:
    """Chooses the recording to send for each request a :class:`FakeServer` receives.

    - ``match=False``: in order, one per request; ``loop=True`` starts over at the end.
    - ``match=True``: the first unused recording whose request had the same
      model and ``stream`` flag (and the same messages, when several share
      those); when all matching ones were used, the last one again.

    With nothing left, a 500 names what was asked for and what is there.
    """

    def __init__(self, recordings: Sequence[Recording], *, match: bool = False, loop: bool = False) -> None:
        if not recordings:
            raise ValueError("no recordings to serve")
        self.recordings = list(recordings)
        self.match = match
        self.loop = loop
        self._used: list[int] = [0] * len(self.recordings)
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        """The reply for ``request``."""
        with self._lock:
            index = self._choose_matching(request) if self.match else self._choose_in_order()
            if index is None:
                return self._nothing_left(request)
            self._used[index] += 1
            return self.recordings[index].reply()

    def _choose_in_order(self) -> int | None:
        if self._next >= len(self.recordings):
            if not self.loop:
                return None
            self._next = 0
        index = self._next
        self._next += 1
        return index

    def _choose_matching(self, request: RecordedRequest) -> int | None:
        body = _json_or_none(request.body)
        model = body.get("model") if isinstance(body, dict) else None
        stream = bool(body.get("stream")) if isinstance(body, dict) else False
        candidates = [i for i, r in enumerate(self.recordings) if r.model == model and r.is_stream == stream]
        if isinstance(body, dict) and len(candidates) > 1:
            same = [i for i in candidates
                    if isinstance(self.recordings[i].request, dict)
                    and self.recordings[i].request.get("messages") == body.get("messages")]
            candidates = same or candidates
        if not candidates:
            return None
        unused = [i for i in candidates if not self._used[i]]
        return unused[0] if unused else candidates[-1]

    def _nothing_left(self, request: RecordedRequest) -> Reply:
        if self.match:
            body = _json_or_none(request.body)
            asked = (f"model={body.get('model')!r} stream={bool(body.get('stream'))}" if isinstance(body, dict)
                     else "a body that is not JSON")
            have = ", ".join(f"{r.name} (model={r.model!r} stream={r.is_stream})" for r in self.recordings)
            message = f"chatplug serve: no recording matches {asked}; recordings: {have}"
        else:
            message = f"chatplug serve: all {len(self.recordings)} recordings were served (use --loop to start over)"
        return Reply.json({"error": {"message": message, "type": "fake_server"}}, status=500)


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
