"""`chatplug serve` as a real process: several workers, 200 concurrent streams, metrics across workers."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import openai
import pytest
from chatplug.testing import FakeServer, Reply
from gateway_support import TEAM_A_KEY, TENANTS_TOML, GatewayProcess, provider_env, simple_stream

STREAMS = 200


@pytest.mark.anyio
async def test_200_concurrent_streams_through_2_workers(fake: FakeServer, tmp_path: Path) -> None:
    fake.default = Reply.sse(simple_stream("alpha beta gamma delta"))
    config = tmp_path / "gateway.toml"
    config.write_text(TENANTS_TOML)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {**provider_env(fake), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with GatewayProcess(tmp_path, ["--config", str(config), "--workers", "2", "--log-level", "info"], env) as served:
        # openai's own connection pool allows 1000 connections: the 200 streams run at once
        async with openai.AsyncOpenAI(base_url=served.base_url, api_key=TEAM_A_KEY, max_retries=0,
                                      timeout=120) as client:

            async def one(number: int) -> str:
                stream = await client.chat.completions.create(
                    model="glm-4.6", messages=[{"role": "user", "content": f"stream {number}"}], stream=True,
                    stream_options={"include_usage": True},
                )
                text = ""
                async for piece in stream:
                    if piece.choices:
                        text += piece.choices[0].delta.content or ""
                    else:
                        assert piece.usage is not None and piece.usage.total_tokens == 18
                return text

            with anyio.fail_after(240):
                texts = await asyncio.gather(*(one(n) for n in range(STREAMS)))
        assert texts == ["alpha beta gamma delta"] * STREAMS
        assert sorted(r.json()["messages"][0]["content"] for r in fake.requests) == sorted(
            f"stream {n}" for n in range(STREAMS))
        metrics = httpx.get(f"{served.url}/metrics", timeout=30).text
    # both workers answered, and /metrics sums them (prometheus-client's multiprocess mode)
    counted = re.search(r'chatplug_gateway_requests_total\{model="glm-4.6",provider="glm",status="200",'
                        r'stream="true",tenant="team-a"\} (\S+)', metrics)
    assert counted is not None and float(counted.group(1)) == STREAMS
    pids = set(re.findall(r"Started server process \[(\d+)\]", served.output()))
    assert len(pids) == 2
    serving = {path.stem.rpartition("_")[2] for path in metrics_dir.glob("counter_*.db")}
    assert serving and serving <= pids  # the workers that answered are the ones started


def test_health_and_graceful_stop(fake: FakeServer, tmp_path: Path) -> None:
    served = GatewayProcess(tmp_path, ["--log-level", "info"], provider_env(fake))
    with served:
        response = httpx.get(f"{served.url}/health")
        assert response.status_code == 200 and response.json()["status"] == "ok"
    # SIGTERM: uvicorn finishes the open requests, runs the lifespan's shutdown (closing the upstream
    # client), then exits by the same signal, as it does for any app
    assert served.process is not None and served.process.returncode in (0, -15)
    output = served.output()
    assert "Waiting for application shutdown." in output and "Application shutdown complete." in output


def test_serve_is_listed_and_loading_plugins_does_not_import_the_server_stack() -> None:
    """The plugin adds `serve` through the core's command hook; a library user loading plugins pays nothing."""
    listed = subprocess.run([sys.executable, "-m", "chatplug", "--help"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "serve" in listed.stdout
    code = ("import sys, chatplug; chatplug.providers(); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'prometheus_client', 'anyio') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"
