"""Fuzzing with hypothesis, bounded for CI.

Whatever bytes, JSON or request arguments arrive, the only exceptions that may
escape are chatplug's own documented errors (never a KeyError, TypeError or
IndexError from deep inside), and a stream error always carries ``.partial``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import chatplug
import pytest
from chatplug._accumulate import ChunkAccumulator
from chatplug._sse import SSEDecoder
from chatplug._streaming import StreamProcessor
from chatplug.testing import FakeServer, Reply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import API_KEY, MESSAGES, chunk, completion, make_registry

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_OVER_HTTP = settings(max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------ strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the well-typed value, sometimes any JSON value at all."""
    return st.one_of(strategy, strategy, json_values)


tool_call_deltas = st.fixed_dictionaries({}, optional={
    "index": maybe(st.integers(0, 3)),
    "id": maybe(st.sampled_from(["call_1", "functions.get_weather:0", ""])),
    "type": maybe(st.just("function")),
    "function": maybe(st.fixed_dictionaries({}, optional={
        "name": maybe(st.sampled_from(["get_weather", ""])), "arguments": maybe(st.text(max_size=10)),
    })),
})
deltas = st.fixed_dictionaries({}, optional={
    "role": maybe(st.sampled_from(["assistant", "tool"])),
    "content": maybe(st.text(max_size=10)),
    "reasoning_content": maybe(st.text(max_size=10)),
    "tool_calls": maybe(st.lists(tool_call_deltas, max_size=3)),
    "refusal": maybe(st.text(max_size=5)),
})
usages = st.fixed_dictionaries({}, optional={
    "prompt_tokens": maybe(st.integers(0, 100)), "completion_tokens": maybe(st.integers(0, 100)),
    "total_tokens": maybe(st.integers(0, 200)),
    "prompt_tokens_details": maybe(st.fixed_dictionaries({}, optional={"cached_tokens": maybe(st.integers(0, 9))})),
    "completion_tokens_details": maybe(st.fixed_dictionaries({}, optional={
        "reasoning_tokens": maybe(st.integers(0, 9))})),
})
chunk_choices = st.fixed_dictionaries({}, optional={
    "index": maybe(st.integers(0, 2)), "delta": maybe(deltas),
    "finish_reason": maybe(st.sampled_from(["stop", "length", "tool_calls", "sensitive"])),
    "logprobs": json_values, "usage": maybe(usages),
})
chunk_dicts = st.fixed_dictionaries({}, optional={
    "id": maybe(st.text(max_size=8)), "object": maybe(st.just("chat.completion.chunk")),
    "created": maybe(st.integers(0, 2**40)), "model": maybe(st.text(max_size=8)),
    "choices": maybe(st.lists(chunk_choices, max_size=3)), "usage": maybe(usages),
    "system_fingerprint": maybe(st.text(max_size=5)), "error": json_values,
})
messages = st.fixed_dictionaries({}, optional={
    "role": maybe(st.sampled_from(["assistant", "user"])), "content": maybe(st.text(max_size=10)),
    "reasoning_content": maybe(st.text(max_size=10)),
    "tool_calls": maybe(st.lists(st.fixed_dictionaries({}, optional={
        "id": maybe(st.text(max_size=5)), "type": maybe(st.just("function")),
        "function": maybe(st.fixed_dictionaries({}, optional={
            "name": maybe(st.text(max_size=5)), "arguments": maybe(st.text(max_size=5))})),
    }), max_size=2)),
})
completion_dicts = st.fixed_dictionaries({}, optional={
    "id": maybe(st.text(max_size=8)), "object": maybe(st.just("chat.completion")),
    "created": maybe(st.integers(0, 2**40)), "model": maybe(st.text(max_size=8)),
    "choices": maybe(st.lists(st.fixed_dictionaries({}, optional={
        "index": maybe(st.integers(0, 2)), "message": maybe(messages),
        "finish_reason": maybe(st.sampled_from(["stop", "length"])), "logprobs": json_values,
    }), max_size=3)),
    "usage": maybe(usages),
})


def sse_event(value: Any) -> bytes:
    return b"data: " + json.dumps(value).encode() + b"\n\n"


sse_noise = st.sampled_from([
    b": keep-alive\n\n", b"data: [DONE]\n\n", b"event: error\n", b"event: ping\ndata: {}\n\n", b"\r\n", b"\r",
    b"data: {\n\n", b"data:", b"\xff\xfe", b"id: 7\nretry: 10\n", b"data: null\n\n", b"data: []\n\n",
])
sse_streams = st.lists(
    st.one_of(chunk_dicts.map(sse_event), json_values.map(sse_event), sse_noise, st.binary(max_size=20)),
    max_size=12,
).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (empty pieces included)."""
    points = sorted(cut % (len(data) + 1) for cut in cuts)
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


# ----------------------------------------------------------------- SSE decoder


#: Streams made of line-ending-heavy fragments, where splits matter most.
line_soup = st.lists(st.sampled_from([b"data: a", b"data:b", b"\r", b"\n", b"\r\n", b": c", b"event: e", b"x"]),
                     max_size=20).map(b"".join)


@FUZZ
@given(st.binary(max_size=300) | sse_streams | line_soup, st.lists(st.integers(0, 60), max_size=8))
def test_sse_decoder_takes_any_bytes_and_any_split(data: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder()
    expected = whole.feed(data) + whole.flush()
    pieces = SSEDecoder()
    got: list[tuple[str | None, bytes]] = []
    for piece in split(data, cuts):
        got += pieces.feed(piece)
    got += pieces.flush()
    assert got == expected
    for event, payload in got:
        assert event is None or isinstance(event, str)
        assert isinstance(payload, bytes)


# ------------------------------------------------------------ JSON structuring


@FUZZ
@given(json_values | chunk_dicts)
def test_any_json_into_a_chunk_parses_or_raises_validation_error(value: Any) -> None:
    try:
        parsed = chatplug.from_dict(value, chatplug.ChatCompletionChunk)
    except chatplug.APIResponseValidationError:
        return
    wire = parsed.to_dict()
    assert json.loads(json.dumps(wire)) == wire  # plain JSON, nothing lost on the way out
    # round trip: what chatplug writes, it reads back to the same chunk
    assert chatplug.from_dict(wire, chatplug.ChatCompletionChunk).to_dict() == wire
    once, twice = ChunkAccumulator(), ChunkAccumulator()
    once.add(parsed)
    twice.add(parsed)
    twice.add(parsed)
    single, double = once.completion(), twice.completion()
    json.dumps(double.to_dict())
    for choice in parsed.choices:  # a chunk sent twice doubles its text, and only its text
        got = next(c for c in single.choices if c.index == choice.index).message
        assert got.content == (choice.delta.content or None)
        assert got.reasoning_content == (choice.delta.reasoning_content or None)
        again = next(c for c in double.choices if c.index == choice.index).message
        assert again.content == (choice.delta.content * 2 if choice.delta.content else None)
    assert double.usage == single.usage == parsed.usage  # usage is a report, not a sum


#: Chunks that are always valid, so the properties below are exercised on every example.
well_formed_usages = st.fixed_dictionaries({
    "prompt_tokens": st.integers(0, 100), "completion_tokens": st.integers(0, 100), "total_tokens": st.integers(0, 200),
})
well_formed_chunks = st.fixed_dictionaries({
    "id": st.just("c1"), "object": st.just("chat.completion.chunk"), "created": st.just(1), "model": st.just("m"),
    "choices": st.lists(st.fixed_dictionaries({"index": st.integers(0, 2), "delta": st.fixed_dictionaries(
        {}, optional={"role": st.just("assistant"), "content": st.text(max_size=6),
                      "reasoning_content": st.text(max_size=6)})}), max_size=3),
}, optional={"usage": well_formed_usages})


@FUZZ
@given(st.lists(well_formed_chunks, min_size=1, max_size=6))
def test_accumulated_text_is_the_concatenation_and_usage_the_last_report(values: list[dict[str, Any]]) -> None:
    accumulator = ChunkAccumulator()
    for value in values:
        accumulator.add(chatplug.from_dict(value, chatplug.ChatCompletionChunk))
    final = accumulator.completion()
    indexes = sorted({choice["index"] for value in values for choice in value["choices"]})
    assert [choice.index for choice in final.choices] == indexes
    for choice in final.choices:
        for field in ("content", "reasoning_content"):
            sent = "".join(c["delta"].get(field) or "" for v in values for c in v["choices"]
                           if c["index"] == choice.index)
            assert getattr(choice.message, field) == (sent or None)
    reports = [value["usage"] for value in values if "usage" in value]
    assert (final.usage.to_dict() if final.usage else None) == (reports[-1] if reports else None)


@FUZZ
@given(json_values | completion_dicts)
def test_any_json_into_a_completion_parses_or_raises_validation_error(value: Any) -> None:
    try:
        parsed = chatplug.from_dict(value, chatplug.ChatCompletion)
    except chatplug.APIResponseValidationError:
        return
    wire = parsed.to_dict()
    assert json.loads(json.dumps(wire)) == wire
    assert chatplug.from_dict(wire, chatplug.ChatCompletion).to_dict() == wire  # round trip
    for choice in parsed.choices:
        assert choice.message is None or isinstance(choice.message.content, (str, list, type(None)))


# ------------------------------------------------------------ stream processing


@pytest.fixture(scope="module")
def stream_plan() -> Any:
    registry, _ = make_registry()
    client = chatplug.Client(provider="rel", api_key=API_KEY, base_url="http://127.0.0.1:9/v1", registry=registry)
    return client._prepare("rel-1", MESSAGES, True, {})


def process(plan: Any, pieces: list[bytes]) -> chatplug.ChatCompletion:
    """What a Stream does with the bytes of a response, minus the socket."""
    processor = StreamProcessor(plan, {})
    try:
        for piece in pieces:
            if piece:
                processor.feed(piece)
            if processor.done:
                break
        processor.finish()
    except chatplug.APIError:
        assert isinstance(processor.partial(), chatplug.ChatCompletion)
        raise
    return processor.partial()


@FUZZ
@given(data=sse_streams | st.binary(max_size=200), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_any_stream_bytes_give_chunks_or_a_documented_error(stream_plan: Any, data: bytes, cuts: list[int]) -> None:
    """Only documented errors escape, and how the bytes were cut changes nothing: the outcome in pieces
    is the outcome in one piece."""
    assert outcome(stream_plan, split(data, cuts)) == outcome(stream_plan, [data])


def outcome(plan: Any, pieces: list[bytes]) -> tuple[str, str, Any]:
    """(error class name or "ok", the error message, the completion assembled so far, as a dict)."""
    processor = StreamProcessor(plan, {})
    try:
        for piece in pieces:
            if piece:
                processor.feed(piece)
            if processor.done:
                break
        processor.finish()
    except chatplug.APIError as error:  # anything else escapes and fails the test
        return type(error).__name__, str(error), processor.partial().to_dict()
    wire = processor.partial().to_dict()
    json.dumps(wire)
    return "ok", "", wire


@FUZZ
@given(st.lists(json_values | chunk_dicts, min_size=1, max_size=6))
def test_any_json_events_give_chunks_or_a_documented_error(stream_plan: Any, values: list[Any]) -> None:
    data = b"".join(sse_event(value) for value in values) + b"data: [DONE]\n\n"
    try:
        final = process(stream_plan, [data])
    except chatplug.APIError:
        return
    json.dumps(final.to_dict())


@pytest.fixture(scope="module")
def loopback() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@FUZZ_OVER_HTTP
@given(data=sse_streams, piece=st.integers(1, 64))
def test_any_stream_over_http_gives_chunks_or_a_documented_error(loopback: FakeServer, data: bytes,
                                                                  piece: int) -> None:
    registry, _ = make_registry()
    loopback.add(Reply.sse_bytes(data or b"\n", chunk_size=piece))
    with chatplug.Client(provider="rel", api_key=API_KEY, base_url=loopback.base_url, registry=registry,
                         max_retries=0) as client:
        try:
            with client.chat.completions.create(model="rel-1", messages=MESSAGES, stream=True) as stream:
                for item in stream:
                    assert isinstance(item, chatplug.ChatCompletionChunk)
                final = stream.get_final_completion()
        except chatplug.APIError as error:
            # an error before the stream began has no partial; one raised while reading has
            assert error.partial is not None or isinstance(error, chatplug.APIConnectionError)
            return
    json.dumps(final.to_dict())


# ------------------------------------------------------------------ validation

PARAM_NAMES = ["temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "user",
               "stream_options", "tools", "tool_choice", "parallel_tool_calls", "response_format",
               "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias",
               "extra_body", "extra_headers", "extra_query"]
python_leaves = st.one_of(st.binary(max_size=4), st.sampled_from([object(), {1, 2}, (1, "a"), 1j, float("nan")]),
                          json_scalars)
python_values = st.recursive(
    python_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
request_messages = st.one_of(
    st.just(MESSAGES), st.just(MESSAGES), st.just(MESSAGES),
    st.lists(st.one_of(python_values, st.fixed_dictionaries({"role": maybe(st.sampled_from(
        ["user", "system", "assistant", "tool", "developer"])), "content": python_values}, optional={
        "tool_calls": python_values, "tool_call_id": python_values, "name": python_values})), max_size=3),
    python_values,
)
WELL_TYPED: dict[str, st.SearchStrategy[Any]] = {
    "temperature": st.floats(0, 1), "top_p": st.floats(0.01, 1), "max_tokens": st.integers(1, 99),
    "max_completion_tokens": st.integers(1, 99), "n": st.integers(1, 5), "seed": st.integers(),
    "user": st.text(max_size=5), "stop": st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=4),
    "parallel_tool_calls": st.booleans(),
    "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    "tool_choice": st.sampled_from(["auto", "none"]), "response_format": st.just({"type": "json_object"}),
    "frequency_penalty": st.floats(-2, 2), "presence_penalty": st.floats(-2, 2), "logprobs": st.booleans(),
    "top_logprobs": st.integers(0, 5), "logit_bias": st.dictionaries(st.text(max_size=3), st.integers(-9, 9)),
    "extra_body": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    "extra_headers": st.dictionaries(st.sampled_from(["x-trace", "x-team"]), st.text("abc", max_size=4)),
    "extra_query": st.dictionaries(st.sampled_from(["a", "b"]), st.text("abc", max_size=4)),
}
#: Each parameter mostly well typed, sometimes any Python value: the odd one out must be caught.
request_kwargs = st.fixed_dictionaries(
    {}, optional={name: st.one_of(strategy, strategy, strategy, python_values) for name, strategy in WELL_TYPED.items()}
)


@pytest.fixture(scope="module")
def reachable() -> Iterator[dict[bool, FakeServer]]:
    """A server per mode: {stream: server}; each answers whatever reaches it."""
    with FakeServer(default=Reply.json(completion("reached"))) as plain, FakeServer(
        default=Reply.sse([chunk("reached"), chunk(None, "stop")])
    ) as streaming:
        yield {False: plain, True: streaming}


@FUZZ_OVER_HTTP
@given(messages=request_messages, kwargs=request_kwargs, stream=st.booleans())
def test_any_request_is_sent_or_rejected_before_io(reachable: dict[bool, FakeServer], messages: Any,
                                                   kwargs: dict[str, Any], stream: bool) -> None:
    registry, _ = make_registry()
    server = reachable[stream]
    before = len(server.requests)
    with chatplug.Client(provider="rel", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         max_retries=0) as client:
        try:
            if stream:
                with client.chat.completions.create(model="rel-1", messages=messages, stream=True,
                                                    **kwargs) as reply:
                    reply.get_final_completion()
            else:
                client.chat.completions.create(model="rel-1", messages=messages, **kwargs)
        except chatplug.InvalidRequestError as error:
            assert len(server.requests) == before, f"rejected after the request went out: {error}"
            assert error.param
            return
        except chatplug.APIError:
            pass  # the server saw it and objected (say, to an odd extra header): sent, and answered
    assert len(server.requests) == before + 1
