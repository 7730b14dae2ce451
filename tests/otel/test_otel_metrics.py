"""The gen_ai.client.* histograms: names, units, bucket advice, attributes and values."""

from __future__ import annotations

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otel_support import MESSAGES, completion_body, histogram_points, metric_units, stream_chunks

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


def _base(server: FakeServer) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "testprov",
        "gen_ai.system": "testprov",
        "gen_ai.request.model": "t-1",
        "server.address": "127.0.0.1",
        "server.port": httpx.URL(server.base_url).port,
    }


def test_a_call_records_its_duration_and_token_usage(
    reader: InMemoryMetricReader, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.retry_later(503, retry_after=0), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    expected = {**_base(server), "gen_ai.response.model": "t-1-0613"}

    (duration,) = histogram_points(reader, "gen_ai.client.operation.duration")
    assert dict(duration.attributes or {}) == expected
    assert duration.count == 1  # one logical call, though two attempts
    assert duration.sum > 0
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS

    tokens = {dict(p.attributes or {})["gen_ai.token.type"]: p for p in histogram_points(reader,
                                                                                           "gen_ai.client.token.usage")}
    assert set(tokens) == {"input", "output"}
    assert (tokens["input"].count, tokens["input"].sum) == (1, 11)
    assert (tokens["output"].count, tokens["output"].sum) == (1, 7)
    assert dict(tokens["input"].attributes or {}) == {**expected, "gen_ai.token.type": "input"}
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS

    units = metric_units(reader)
    assert units["gen_ai.client.operation.duration"] == "s"
    assert units["gen_ai.client.token.usage"] == "{token}"
    # Not a stream: the chunk metrics SHOULD NOT be reported.
    assert histogram_points(reader, "gen_ai.client.operation.time_to_first_chunk") == []
    assert histogram_points(reader, "gen_ai.client.operation.time_per_output_chunk") == []


def test_a_stream_records_time_to_first_chunk_and_time_per_chunk(
    reader: InMemoryMetricReader, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.sse(stream_chunks()))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        chunks = list(stream)
    assert len(chunks) == 4
    expected = {**_base(server), "gen_ai.response.model": "t-1-0613"}

    (first,) = histogram_points(reader, "gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    assert dict(first.attributes or {}) == expected
    assert tuple(first.explicit_bounds) == DURATION_BUCKETS

    (per_chunk,) = histogram_points(reader, "gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == 3  # every chunk after the first
    assert dict(per_chunk.attributes or {}) == expected
    assert tuple(per_chunk.explicit_bounds) == DURATION_BUCKETS

    (duration,) = histogram_points(reader, "gen_ai.client.operation.duration")
    assert duration.sum >= first.sum + per_chunk.sum  # the whole call contains its chunks
    tokens = {dict(p.attributes or {})["gen_ai.token.type"]: p.sum
              for p in histogram_points(reader, "gen_ai.client.token.usage")}
    assert tokens == {"input": 5, "output": 2}
    units = metric_units(reader)
    assert units["gen_ai.client.operation.time_to_first_chunk"] == "s"
    assert units["gen_ai.client.operation.time_per_output_chunk"] == "s"


def test_a_failed_call_records_its_duration_with_error_type_and_no_tokens(
    reader: InMemoryMetricReader, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.error(401, {"error": {"message": "bad key", "type": "invalid_authentication_error"}}))
    with pytest.raises(chatplug.AuthenticationError):
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    (duration,) = histogram_points(reader, "gen_ai.client.operation.duration")
    assert dict(duration.attributes or {}) == {**_base(server), "error.type": "AuthenticationError"}
    assert duration.count == 1
    assert histogram_points(reader, "gen_ai.client.token.usage") == []


def test_calls_to_different_models_are_separate_series(
    reader: InMemoryMetricReader, server: FakeServer, client: chatplug.Client
) -> None:
    server.add(Reply.json(completion_body()), Reply.json(completion_body()), Reply.json(completion_body()))
    for model in ("t-1", "t-1", "t-2"):
        client.chat.completions.create(model=model, messages=MESSAGES)
    counts = {dict(p.attributes or {})["gen_ai.request.model"]: p.count
              for p in histogram_points(reader, "gen_ai.client.operation.duration")}
    assert counts == {"t-1": 2, "t-2": 1}


@pytest.mark.anyio
async def test_the_async_stream_records_the_same_metrics(
    reader: InMemoryMetricReader, server: FakeServer, aclient: chatplug.AsyncClient
) -> None:
    server.add(Reply.sse(stream_chunks()))
    stream = await aclient.chat.completions.create(model="t-1", messages=MESSAGES, stream=True)
    async with stream:
        async for _ in stream:
            pass
    (first,) = histogram_points(reader, "gen_ai.client.operation.time_to_first_chunk")
    (per_chunk,) = histogram_points(reader, "gen_ai.client.operation.time_per_output_chunk")
    assert (first.count, per_chunk.count) == (1, 3)
    (duration,) = histogram_points(reader, "gen_ai.client.operation.duration")
    assert duration.count == 1
