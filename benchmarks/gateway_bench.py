"""What the gateway adds: `chatplug serve` against calling the fake provider directly.

    python benchmarks/gateway_bench.py              # about a minute
    python benchmarks/gateway_bench.py --quick      # a smoke test, not figures
    python benchmarks/gateway_bench.py --json       # the figures as JSON too
    python benchmarks/gateway_bench.py --litellm PATH_TO_LITELLM   # the same workload through litellm's proxy

Not part of the test run. The fake provider is benchmarks/bench.py's loopback
server, in its own process (a non-stream reply of about 600 bytes; a stream of
50 content chunks, a finishing chunk with usage and ``[DONE]``). The gateway is
``chatplug serve`` with one worker, in its own process. The client is raw
httpx in this process, the same for both paths, so the difference is the
gateway's.

Measured:

- latency per request, sequential (one request at a time), p50 and p99, for a
  non-stream request and for a whole 50-chunk stream, direct and through the
  gateway; the gateway's overhead is the difference; and the gateway process's
  CPU time per request, which a busy machine moves less than the wall time;
- chunks per second per core through the gateway: concurrent streams, chunks
  the client received divided by the CPU seconds the gateway process used
  (its user + system time from /proc), and the wall-clock rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Write a long story."}]
CHUNKS_PER_STREAM = 51  # bench.py's server: 50 content chunks and a finishing one
#: litellm's proxy refuses to start without a master key; every path gets it (the others ignore it).
LITELLM_KEY = "sk-gateway-bench-0c8f3e2a9b7d4f61a5e0c3b2d1f4a6e8"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that were waited for (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, str(HERE / "bench.py"), "--serve"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/v1"


def start_gateway(upstream: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "ZAI_BASE_URL": upstream, "ZAI_API_KEY": "bench-provider-key", "CHATPLUG_GATEWAY_KEYS": ""}
    env.pop("CHATPLUG_GATEWAY_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "chatplug", "serve", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/health")
    return process, f"{url}/v1"


def start_litellm(litellm: str, upstream: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """litellm's proxy with one OpenAI-compatible model pointed at the same fake provider."""
    port = _free_port()
    config = tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: glm-4.6\n"
        "    litellm_params:\n"
        "      model: openai/glm-4.6\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench-provider-key\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    process = subprocess.Popen([litellm, "--config", str(config), "--port", str(port), "--num_workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    _wait_http(f"{url}/health/liveliness", seconds=180)
    return process, f"{url}/v1"


def latencies(base_url: str, model: str, stream: bool, requests: int) -> list[float]:
    """Seconds per request (a stream: to its last byte), one request at a time, after a warm-up."""
    body = {"model": model, "messages": MESSAGES, "stream": stream}
    times: list[float] = []
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {LITELLM_KEY}"}) as client:
        for number in range(requests + 20):
            started = time.perf_counter()
            if stream:
                with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                    response.raise_for_status()
                    for _ in response.iter_bytes():
                        pass
            else:
                response = client.post(f"{base_url}/chat/completions", json=body)
                response.raise_for_status()
            if number >= 20:
                times.append(time.perf_counter() - started)
    return times


async def _streams(base_url: str, model: str, streams: int, concurrency: int) -> int:
    body = {"model": model, "messages": MESSAGES, "stream": True}
    limits = httpx.Limits(max_connections=concurrency)
    chunks = 0
    headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with gate, client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                response.raise_for_status()
                count = 0
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        count += 1
                return count

        for count in await asyncio.gather(*(one() for _ in range(streams))):
            chunks += count
    return chunks


def throughput(base_url: str, model: str, pid: int, streams: int, concurrency: int) -> dict[str, float]:
    asyncio.run(_streams(base_url, model, min(streams, 50), concurrency))  # warm-up
    cpu_before = _cpu_seconds(pid)
    started = time.perf_counter()
    chunks = asyncio.run(_streams(base_url, model, streams, concurrency))
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(pid) - cpu_before
    return {"chunks": chunks, "wall_s": wall, "gateway_cpu_s": cpu, "chunks_per_s": chunks / wall,
            "chunks_per_cpu_s": chunks / cpu if cpu else float("nan")}


def summary(times: list[float]) -> dict[str, float]:
    return {"p50_ms": _percentile(times, 0.5) * 1000, "p99_ms": _percentile(times, 0.99) * 1000,
            "mean_ms": statistics.fmean(times) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test, not figures")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--litellm", metavar="PATH", help="the `litellm` executable, to run the same workload "
                        "through its proxy (pip install 'litellm[proxy]')")
    args = parser.parse_args()
    requests = 50 if args.quick else 500
    streams = 100 if args.quick else 1000
    concurrency = 50
    results: dict[str, Any] = {}
    upstream, upstream_url = start_upstream()
    processes: list[subprocess.Popen[Any]] = []
    try:
        gateway, gateway_url = start_gateway(upstream_url, 1)
        processes.append(gateway)
        paths = {"direct": (upstream_url, "bench-1"), "gateway": (gateway_url, "glm/glm-4.6")}
        if args.litellm:
            tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
            litellm, litellm_url = start_litellm(args.litellm, upstream_url, tmp)
            processes.append(litellm)
            paths["litellm"] = (litellm_url, "glm-4.6")
        pids = {"gateway": gateway.pid, **({"litellm": processes[1].pid} if args.litellm else {})}
        for name, (url, model) in paths.items():
            results[name] = {}
            for kind, count in (("non-stream", requests), ("stream", requests // 5)):
                pid = pids.get(name)
                before = _cpu_seconds(pid) if pid else 0.0
                row = summary(latencies(url, model, kind == "stream", count))
                if pid:  # the proxy's own CPU per request (the warm-up requests included)
                    row["proxy_cpu_ms"] = (_cpu_seconds(pid) - before) / (count + 20) * 1000
                results[name][kind] = row
        results["gateway"]["throughput"] = throughput(gateway_url, "glm/glm-4.6", gateway.pid, streams, concurrency)
        if args.litellm:
            results["litellm"]["throughput"] = throughput(litellm_url, "glm-4.6", processes[1].pid, streams,
                                                          concurrency)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        assert upstream.stdin is not None
        upstream.stdin.close()
        upstream.wait(30)
    print(f"{'path':<10} {'kind':<11} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name in paths:
        for kind in ("non-stream", "stream"):
            row = results[name][kind]
            print(f"{name:<10} {kind:<11} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['mean_ms']:8.2f}")
    for name in paths:
        if name == "direct":
            continue
        for kind in ("non-stream", "stream"):
            added = results[name][kind]["p50_ms"] - results["direct"][kind]["p50_ms"]
            added99 = results[name][kind]["p99_ms"] - results["direct"][kind]["p99_ms"]
            cpu = results[name][kind]["proxy_cpu_ms"]
            print(f"{name} adds {added:.2f} ms at p50, {added99:.2f} ms at p99 per {kind} request "
                  f"({cpu:.2f} ms of its CPU)")
        row = results[name]["throughput"]
        print(f"{name}: {row['chunks']} chunks in {row['wall_s']:.2f} s ({row['chunks_per_s']:.0f}/s wall, "
              f"{concurrency} streams at a time); {row['chunks_per_cpu_s']:.0f} chunks per CPU second of the "
              f"proxy process")
    if args.json:
        print(json.dumps(results, indent=2))
    if args.litellm is None and shutil.which("litellm"):
        print("(litellm is installed: add --litellm $(which litellm) to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
