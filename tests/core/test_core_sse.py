"""The incremental SSE decoder, unit by unit, and the property that any split
of a recorded byte stream into network chunks decodes to the same result."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug._sse import SSEDecoder
from chatplug._streaming import StreamProcessor
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, FIXTURES, MESSAGES, TEST_PROVIDER, ProviderPlugin, chunk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def decode_all(*pieces: bytes) -> list[tuple[str | None, bytes]]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events + decoder.flush()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(newline: bytes) -> None:
    stream = b"data: one" + newline + newline + b"data: two" + newline + newline
    assert decode_all(stream) == [(None, b"one"), (None, b"two")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings_fed_one_byte_at_a_time(newline: bytes) -> None:
    stream = b"data: one" + newline + newline + b"data: two" + newline + newline
    assert decode_all(*(stream[i : i + 1] for i in range(len(stream)))) == [(None, b"one"), (None, b"two")]


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    # A CR at the end of one network chunk and the LF at the start of the next
    # must not count as two line endings (that would dispatch an empty event early).
    assert decode_all(b"data: a\r", b"\ndata: b\r\n\r\n") == [(None, b"a\nb")]


@pytest.mark.parametrize("pieces", [[b"\xef\xbb\xbfdata: x\n\n"], [b"\xef", b"\xbb", b"\xbfdata: x\n\n"]])
def test_a_leading_byte_order_mark_does_not_lose_the_first_event(pieces: list[bytes]) -> None:
    assert decode_all(*pieces) == [(None, b"x")]


def test_comments_are_ignored() -> None:
    assert decode_all(b": keep-alive\n\n:another\ndata: x\n\n") == [(None, b"x")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode_all(b"data: first\ndata: second\ndata:third\n\n") == [(None, b"first\nsecond\nthird")]


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert decode_all(b"data:  two spaces\n\n") == [(None, b" two spaces")]


def test_event_field_is_reported_and_reset_after_dispatch() -> None:
    assert decode_all(b"event: error\ndata: {}\n\ndata: next\n\n") == [("error", b"{}"), (None, b"next")]


def test_last_event_without_blank_line_is_flushed_at_end() -> None:
    assert decode_all(b"data: tail") == [(None, b"tail")]


def test_id_retry_and_unknown_fields_do_not_disturb_data() -> None:
    assert decode_all(b"id: 7\nretry: 100\nfoo: bar\ndata: x\n\n") == [(None, b"x")]


def test_event_error_raises_the_mapped_error_with_partial(
    server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse([
        chunk({"role": "assistant", "content": "Hel"}),
        b'event: error\ndata: {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}\n\n',
    ], done=False))
    stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    seen = []
    with pytest.raises(chatplug.APIStatusError) as info:
        for item in stream:
            seen.append(item)
    assert len(seen) == 1
    assert info.value.message == "slow down"
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.provider == "testprov"
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "Hel"


def test_data_error_object_raises_the_mapped_error(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([
        chunk({"content": "partial answer"}),
        {"error": {"message": "context too long", "code": "context_length_exceeded"}},
    ], done=False))
    with pytest.raises(chatplug.ContextLengthError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "partial answer"


def test_done_ends_the_stream_and_later_bytes_are_ignored(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([
        chunk({"content": "a"}, "stop"),
        b"data: [DONE]\n\n",
        b"data: this is not json and must never be parsed\n\n",
    ], done=False))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
        final = stream.get_final_completion()
    assert len(chunks) == 1
    assert final.choices[0].message.content == "a"


def test_comment_keepalives_between_chunks_are_harmless(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.sse([b": PROCESSING\n\n", chunk({"content": "x"}), b": ping\r\n\r\n",
                          chunk({}, "stop")]))
    final = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True).get_final_completion()
    assert final.choices[0].message.content == "x"
    assert final.choices[0].finish_reason == "stop"


# --------------------------------------------------------------- property test

RECORDED = sorted(FIXTURES.glob("*.sse"))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return [p for p in pieces if p]


def _isolated_registry() -> chatplug.PluginRegistry:
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    registry.register(ProviderPlugin(TEST_PROVIDER), "p")
    return registry


_SERVER: FakeServer | None = None


def _replay(pieces: list[bytes]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Serve ``pieces`` as the HTTP chunks of one stream; return the chunks and final completion read."""
    assert _SERVER is not None
    _SERVER.add(Reply.sse(pieces, done=False))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=_SERVER.base_url,
                         registry=_isolated_registry(), max_retries=0) as client:
        stream = client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
        with stream:
            chunks = [c.to_dict() for c in stream]
            final = stream.get_final_completion().to_dict()
    return chunks, final


def _process(client: chatplug.Client, pieces: list[bytes]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Feed ``pieces`` straight to a stream processor (exact boundaries, no socket coalescing)."""
    plan = client._prepare("t-1", MESSAGES, True, {})
    processor = StreamProcessor(plan, {})
    chunks = []
    for piece in pieces:
        chunks.extend(processor.feed(piece))
        if processor.done:
            break
    if not processor.done:
        chunks.extend(processor.finish())
    return [c.to_dict() for c in chunks], processor.partial().to_dict()


@pytest.fixture(scope="module")
def shared_server() -> Any:
    global _SERVER
    with FakeServer() as fake:
        _SERVER = fake
        yield fake
    _SERVER = None


@pytest.mark.parametrize("path", RECORDED, ids=[p.name for p in RECORDED])
def test_any_split_of_a_recorded_stream_gives_the_same_chunks_and_completion(path: Any, shared_server: Any) -> None:
    data = path.read_bytes()
    reference = _replay([data])
    assert reference[0], "the recording decodes to chunks"

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cuts=st.lists(st.integers(min_value=0, max_value=len(data)), max_size=40))
    def check(cuts: list[int]) -> None:
        assert _replay(_split(data, cuts)) == reference

    check()


@settings(max_examples=60, deadline=None)
@given(
    path=st.sampled_from(RECORDED),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=30),
    bom=st.booleans(),
    empty_reads=st.booleans(),
)
def test_decoder_is_split_and_line_ending_independent(
    path: Any, newline: bytes, cuts: list[int], bom: bool, empty_reads: bool
) -> None:
    data = path.read_bytes().replace(b"\r\n", b"\n")
    reference = decode_all(data)
    converted = (b"\xef\xbb\xbf" if bom else b"") + data.replace(b"\n", newline)
    pieces = _split(converted, cuts)
    if empty_reads:  # a read may return no bytes, e.g. between a CR and its LF
        pieces = [part for piece in pieces for part in (piece, b"")]
    assert decode_all(*pieces) == reference


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(RECORDED), cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=60))
def test_stream_processor_gives_the_same_chunks_and_completion_for_any_split(
    client: chatplug.Client, path: Any, cuts: list[int]
) -> None:
    data = path.read_bytes()
    reference = _process(client, [data])
    assert reference[0]
    assert _process(client, _split(data, cuts)) == reference


@pytest.mark.anyio
async def test_async_event_error_raises_the_mapped_error_with_partial(
    server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse([
        chunk({"role": "assistant", "content": "Hel"}),
        b'event: error\ndata: {"error": {"message": "overloaded", "code": "server_busy"}}\n\n',
    ], done=False))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    with pytest.raises(chatplug.APIStatusError) as info:
        await stream.get_final_completion()
    assert (info.value.message, info.value.code) == ("overloaded", "server_busy")
    assert info.value.partial is not None and info.value.partial.choices[0].message.content == "Hel"
