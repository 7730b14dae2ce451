"""An incremental server-sent-events decoder, correct across any byte boundary.

It follows the WHATWG event-stream rules that matter for chat streams: LF,
CRLF and CR line endings; ``:`` comment lines; several ``data:`` lines joined
with ``\\n``; an optional single space after the colon; the ``event`` field;
an event dispatched at a blank line. Data stays ``bytes`` (``json.loads``
takes bytes directly, which saves a decode per event).
"""

from __future__ import annotations

__all__ = ["SSEDecoder", "ServerSentEvent"]

#: (event type or None, data bytes)
ServerSentEvent = tuple[str | None, bytes]

_CR = b"\r"
_LF = b"\n"
_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far."""

    __slots__ = ("_data", "_event", "_held_cr", "_pending", "_started")

    def __init__(self) -> None:
        #: Pieces of a line not finished yet (a list, so a long line costs one join, not one copy per read).
        self._pending: list[bytes] = []
        self._data: list[bytes] = []
        self._event: str | None = None
        self._held_cr = False
        self._started = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return every event it completes."""
        if not self._started:
            # A UTF-8 byte order mark may open the stream (it can arrive split); it is not part of the first line.
            head = b"".join(self._pending) + chunk
            if len(head) < 3 and _BOM.startswith(head):
                self._pending = [head]
                return []
            self._started = True
            self._pending = []
            chunk = head[3:] if head.startswith(_BOM) else head
        if self._held_cr and chunk:
            # A CR ended the previous chunk: if this one starts with LF, that
            # LF belongs to the same CRLF line ending. (An empty chunk keeps the CR held.)
            self._held_cr = False
            if chunk[:1] == _LF:
                chunk = chunk[1:]
        if _LF not in chunk and _CR not in chunk:
            if chunk:
                self._pending.append(chunk)  # still inside a line
            return []
        if self._pending:
            self._pending.append(chunk)
            buffer = b"".join(self._pending)
        else:
            buffer = chunk
        if _CR in buffer:
            if buffer.endswith(_CR):
                self._held_cr = True
            buffer = buffer.replace(b"\r\n", _LF).replace(_CR, _LF)
        lines = buffer.split(_LF)
        rest = lines.pop()
        self._pending = [rest] if rest else []
        return self._lines(lines)

    def flush(self) -> list[ServerSentEvent]:
        """At end of stream: finish a last line and a last event that had no blank line."""
        rest = b"".join(self._pending)
        lines = [rest] if rest else []
        self._pending = []
        lines.append(b"")
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                self._event = None
                continue
            if line[0] == 58:  # b":" - a comment
                continue
            field, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id" and "retry" are not used by chat streams; unknown fields are ignored.
        return events
