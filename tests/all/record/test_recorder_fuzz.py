"""Byte-for-byte, whatever the framing: any mix of SSE events, comments, line
endings and stray blank lines, cut into any pieces on the wire, is stored as
sent by the recorder, and a cassette's events join back to the same bytes."""

from __future__ import annotations

import pytest
from chatplug.testing import FakeServer, Reply
from chatplug.testing._cassette import Interaction
from chatplug.testing._record import record_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from record_support import MESSAGES, SECRET_KEY

OVER_HTTP = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,' \
        b'"delta":{"content":"%s"}}]}'
ENDINGS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def framed_streams(draw: st.DrawFn) -> bytes:
    """A stream of content chunks, comments and blank lines, each line ended its own way."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["chunk", "comment", "blank"]))
        end = draw(ENDINGS)
        if kind == "chunk":
            word = draw(st.text(alphabet="abc xyz", min_size=0, max_size=6)).encode()
            parts.append(CHUNK % word + end + end)
        elif kind == "comment":
            parts.append(b": keep-alive" + end + end)
        else:
            parts.append(end)
    parts.append(b"data: [DONE]" + draw(ENDINGS) * 2)
    return b"".join(parts)


@OVER_HTTP
@given(data=framed_streams(), piece=st.integers(1, 40))
def test_any_framing_in_any_pieces_is_stored_as_sent(data: bytes, piece: int, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
    with FakeServer() as server:
        server.add(Reply.sse_bytes(data, chunk_size=piece))
        recorded = record_call(provider="glm", model="glm-4.5", messages=MESSAGES, stream=True,
                               base_url=server.base_url)
    assert recorded.exchange.body == data
    events = Interaction.from_exchange(recorded.exchange).response["events"]
    assert "".join(events).encode() == data
