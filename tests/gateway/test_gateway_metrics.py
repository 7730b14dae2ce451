"""/metrics values after known traffic, and per-key limits shared through a real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from chatplug.testing import FakeServer, Reply
from gateway_support import (
    MESSAGES,
    ThreadedGateway,
    completion,
    fixture_json,
    free_port,
    simple_stream,
    threaded_gateway,
)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (labels in prometheus' sorted order)."""
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    prefix = f"{name}{{{inner}}} " if inner else f"{name} "
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    raise AssertionError(f"no sample {prefix!r} in:\n{metrics}")


def test_requests_errors_tokens_and_latency_by_provider_and_model(fake: FakeServer, gateway: ThreadedGateway) -> None:
    fake.add(
        Reply.json(completion()),
        Reply.sse(simple_stream("a b")),
        Reply.error(429, fixture_json("glm-error-1113-insufficient-balance-en.json")),
        Reply.json(completion(model="kimi-k2-0905-preview")),
    )
    with openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        list(c.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True))
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        c.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES, top_p=7)
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="no-such-model", messages=MESSAGES)
    text = httpx.get(f"{gateway.url}/metrics").text
    glm = {"provider": "glm", "model": "glm-4.6", "tenant": "anonymous"}
    kimi = {"provider": "kimi", "model": "kimi-k2-0905-preview", "tenant": "anonymous"}
    nowhere = {"provider": "", "model": "", "tenant": "anonymous"}
    assert sample(text, "chatplug_gateway_requests_total", **glm, stream="false", status="200") == 1
    assert sample(text, "chatplug_gateway_requests_total", **glm, stream="true", status="200") == 1
    assert sample(text, "chatplug_gateway_requests_total", **glm, stream="false", status="429") == 1
    assert sample(text, "chatplug_gateway_requests_total", **glm, stream="false", status="400") == 1
    assert sample(text, "chatplug_gateway_requests_total", **kimi, stream="false", status="200") == 1
    assert sample(text, "chatplug_gateway_requests_total", **nowhere, stream="false", status="404") == 1
    assert sample(text, "chatplug_gateway_errors_total", **glm, error="QuotaExceededError") == 1
    assert sample(text, "chatplug_gateway_errors_total", **glm, error="InvalidRequestError") == 1
    assert sample(text, "chatplug_gateway_errors_total", **nowhere, error="ModelNotFoundError") == 1
    assert sample(text, "chatplug_gateway_tokens_total", **glm, kind="prompt") == 22  # two replies of 11
    assert sample(text, "chatplug_gateway_tokens_total", **glm, kind="completion") == 14
    assert sample(text, "chatplug_gateway_tokens_total", **kimi, kind="completion") == 7
    assert sample(text, "chatplug_gateway_request_duration_seconds_count", **glm, stream="false") == 3
    assert sample(text, "chatplug_gateway_time_to_first_chunk_seconds_count", **glm) == 1
    assert sample(text, "chatplug_gateway_requests_in_flight") == 0
    assert "no-such-model" not in text  # a name that did not resolve never becomes a label


class Redis:
    """redis-server on a free loopback port, no persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gateway-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis() -> Iterator[Redis]:
    server = Redis()
    try:
        yield server
    finally:
        server.stop()


def test_a_keys_limit_is_shared_by_every_gateway_on_one_redis(fake: FakeServer, redis: Redis) -> None:
    pytest.importorskip("redis", reason="a Redis storage needs redis-py (chatplug-gateway[redis])")
    fake.default = Reply.json(completion())
    toml = (f'[upstream]\nmax_retries = 0\n\n[limits]\nstorage = "{redis.url}"\n\n'
            '[[keys]]\nname = "team"\nkey = "gw-shared-team-key-000"\nrpm = 3\n')
    codes = []
    with threaded_gateway(toml) as first, threaded_gateway(toml) as second:
        for number in range(5):
            served = (first, second)[number % 2]  # alternate between two replicas
            response = httpx.post(f"{served.base_url}/chat/completions",
                                  headers={"Authorization": "Bearer gw-shared-team-key-000"},
                                  json={"model": "glm-4.6", "messages": MESSAGES})
            codes.append(response.status_code)
    assert codes == [200, 200, 200, 429, 429]
    assert len(fake.requests) == 3
    assert os.environ.get("CHATPLUG_GATEWAY_KEYS") is None
