"""chatplug against raw httpx, on one loopback server, in one run.

    python benchmarks/bench.py            # full run (about two minutes)
    python benchmarks/bench.py --quick    # smaller counts, for a smoke test
    python benchmarks/bench.py --json     # the figures as JSON too
    python benchmarks/bench.py --check    # exit 1 when a target is missed
    python benchmarks/bench.py --startup  # only the fresh-process rows (about a minute)
    python benchmarks/bench.py --startup --instructions  # and their instruction counts (valgrind)
    python benchmarks/bench.py --compare VENV_A/bin/python VENV_B/bin/python  # A/B of two installs, one run

What is measured (ratios are chatplug / raw httpx; lower is better):

- ``import``: cold ``import chatplug`` vs ``import httpx``, each in a fresh
  interpreter, best of N.
- ``first completion``: a fresh process that imports chatplug, builds a GLM
  client and completes one request on the loopback server, vs one that imports
  httpx and json, builds an ``httpx.Client`` and posts the same request; wall
  time from the process's first statement (the interpreter's own start-up is
  not counted), best of N, the two sides alternating. ``first completion CPU``
  is the same in CPU time (``time.process_time``), which a busy machine moves
  less. ``chatplug --help`` in a fresh process is reported beside them. With
  ``--instructions``, ``first completion instr`` counts the same two workloads'
  instructions under valgrind's callgrind (less a bare interpreter's): a ratio
  that machine noise does not move.
- ``non-stream CPU``: client-side CPU (``time.process_time``) per non-stream
  request; raw httpx is ``client.post`` + ``json.loads``.
- ``per-chunk CPU``: client-side CPU per stream chunk over a long transcript;
  raw httpx is ``client.stream`` + ``iter_lines`` + ``json.loads``.
- ``load``: 500 concurrent async streams of 50 chunks each; wall time and peak
  RSS, each side in its own subprocess.

The server runs in a separate process, so its CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: Ratio targets; ``None`` marks a figure reported for honesty, with no target.
TARGETS: dict[str, float | None] = {
    "import": 1.5,
    "import+core": None,
    "first completion": 1.25,
    "first completion CPU": None,
    "first completion instr": None,
    "chatplug --help": None,
    "non-stream CPU": 1.3,
    "per-chunk CPU": 2.0,
    "per-chunk instr": 2.0,
    "load wall": 1.5,
    "load RSS": 1.5,
}

MESSAGES = [{"role": "user", "content": "Write a long story."}]
TOKENS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", "\n"]


# ------------------------------------------------------------------- server


def _chunk(content: str | None, finish_reason: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion.chunk",
        "created": 1759305357,
        "model": "bench-1",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def transcript(chunks: int, tag: str = "") -> bytes:
    """An SSE body: ``chunks`` content chunks, a finishing chunk with usage, ``[DONE]``."""
    events = []
    for number in range(chunks):
        token = f"{tag}:{number};" if tag else TOKENS[number % len(TOKENS)]
        events.append(b"data: " + json.dumps(_chunk(token), separators=(",", ":")).encode() + b"\n\n")
    last = _chunk(None, "stop")
    last["usage"] = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": chunks + 12}
    events.append(b"data: " + json.dumps(last, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


COMPLETION = json.dumps({
    "id": "chatcmpl-bench0001",
    "object": "chat.completion",
    "created": 1759305357,
    "model": "bench-1",
    "system_fingerprint": "fp_bench",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog. " * 8,
                    "reasoning_content": "The user wants a sentence. " * 4},
        "logprobs": None,
        "finish_reason": "stop",
    }],
    "usage": {"prompt_tokens": 12, "completion_tokens": 90, "total_tokens": 102,
              "prompt_tokens_details": {"cached_tokens": 0}},
}).encode()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cache: dict[int, bytes]) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            target = lines[0].split(b" ")[1].decode()
            length = 0
            for line in lines[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            query = parse_qs(urlsplit(target).query)
            if body.get("stream"):
                chunks = int(query.get("chunks", ["50"])[0])
                tag = query.get("tag", [""])[0]
                if tag:
                    data = transcript(chunks, tag)
                else:
                    data = cache.get(chunks) or cache.setdefault(chunks, transcript(chunks))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(data) + data)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(COMPLETION) + COMPLETION)
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


def serve() -> None:
    """Run the loopback server; print its port on stdout, serve until stdin closes."""

    async def main() -> None:
        cache: dict[int, bytes] = {}
        server = await asyncio.start_server(lambda r, w: _handle(r, w, cache), "127.0.0.1", 0, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


@contextmanager
def loopback_server() -> Iterator[str]:
    """Start :func:`serve` in a process of its own and give its base URL; stop it on exit."""
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert server.stdout is not None and server.stdin is not None
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}/v1"
    finally:
        server.stdin.close()
        server.wait(10)


# ------------------------------------------------------------------ measures


def measure_import(statement: str, rounds: int) -> float:
    """Best wall time of ``statement`` (an import) in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times.append(float(out))
    return min(times)


#: The fresh-process workloads. Each prints its wall and CPU seconds, measured
#: from its first statement, so the interpreter's start-up is not counted.
FIRST_COMPLETION = {
    "chatplug": """
import time
wall, cpu = time.perf_counter(), time.process_time()
import chatplug
client = chatplug.Client(provider="glm", api_key="sk-bench", base_url=URL, max_retries=0)
reply = client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "Hi"}])
assert reply.choices[0].message.content
print(time.perf_counter() - wall, time.process_time() - cpu)
""",
    "httpx": """
import time
wall, cpu = time.perf_counter(), time.process_time()
import json
import httpx
client = httpx.Client()
body = json.dumps({"model": "glm-4.6", "messages": [{"role": "user", "content": "Hi"}]}).encode()
response = client.post(URL + "/chat/completions", content=body,
                       headers={"Authorization": "Bearer sk-bench", "Content-Type": "application/json"})
assert json.loads(response.content)["choices"][0]["message"]["content"]
print(time.perf_counter() - wall, time.process_time() - cpu)
""",
    "help": """
import time
wall, cpu = time.perf_counter(), time.process_time()
import contextlib, io
from chatplug.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
print(time.perf_counter() - wall, time.process_time() - cpu)
""",
}


def _fresh_env() -> dict[str, str]:
    """The environment for fresh processes: bytecode caches allowed (as for any
    installed package), no plugin filter, no provider key or base-URL override."""
    drop = ("PYTHONDONTWRITEBYTECODE", "CHATPLUG_", "ZAI_", "MOONSHOT_")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


def measure_fresh(base_url: str, runs: dict[str, tuple[str, str]], rounds: int) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU seconds of each run: ``label -> (python, workload)``, a
    :data:`FIRST_COMPLETION` workload run by that interpreter in a fresh process.

    One unmeasured run of each first writes the bytecode caches; then the runs
    alternate round by round, so a burst of load hits all of them.
    """
    env = _fresh_env()
    best = {label: (float("inf"), float("inf")) for label in runs}
    for number in range(rounds + 1):
        for label, (python, workload) in runs.items():
            code = f"URL = {base_url!r}\n" + FIRST_COMPLETION[workload]
            out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
            wall, cpu = (float(part) for part in out.split())
            if number:
                best[label] = (min(best[label][0], wall), min(best[label][1], cpu))
    return best


def compare_main(pythons: list[str], rounds: int, instructions: bool) -> int:
    """``--compare``: the first completion of the chatplug each interpreter has installed
    (a venv per version, say), against raw httpx under this one, all in one run with the
    runs alternating: an A/B that the machine's drift between two runs cannot tilt."""
    runs = {"raw httpx": (sys.executable, "httpx")} | {python: (python, "chatplug") for python in pythons}
    with loopback_server() as base_url:
        best = measure_fresh(base_url, runs, rounds)
        counted = {}
        if instructions and shutil.which("valgrind") is not None:
            counted = {label: fresh_instructions(base_url, workload, python)
                       for label, (python, workload) in runs.items()}
    raw_wall, raw_cpu = best["raw httpx"]
    print(f"first completion, best of {rounds}, the runs alternating")
    for label, (wall, cpu) in best.items():
        line = f"{label:<40} wall {wall * 1e3:6.1f} ms {wall / raw_wall:6.3f}x"
        line += f"   CPU {cpu * 1e3:6.1f} ms {cpu / raw_cpu:6.3f}x"
        if counted:
            line += f"   {counted[label] / 1e6:6.1f} Minstr {counted[label] / counted['raw httpx']:6.3f}x"
        print(line)
    return 0


def fresh_instructions(base_url: str, side: str, python: str = sys.executable) -> float:
    """Instructions callgrind counts for one fresh-process workload, less those of a
    bare interpreter running ``import time``: the interpreter's own start-up cancels
    out, and what remains does not move with the machine's load (run after
    :func:`measure_fresh`, which has written the bytecode caches)."""

    def count(code: str) -> int:
        with tempfile.TemporaryDirectory() as folder:
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out", python, "-c", code]
            done = subprocess.run(command, capture_output=True, text=True, check=True, env=_fresh_env())
        match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
        if match is None:
            raise RuntimeError(f"callgrind printed no instruction count: {done.stderr[-500:]}")
        return int(match.group(1))

    return float(count(f"URL = {base_url!r}\n" + FIRST_COMPLETION[side]) - count("import time"))


def best_cpu(chat_run: Callable[[], int], raw_run: Callable[[], int], rounds: int) -> tuple[float, float]:
    """Least client CPU seconds per unit of each side (a run returns how many units it did).

    The two sides alternate round by round, so a burst of load from a noisy
    neighbour hits both rather than one block of rounds.
    """
    best = {chat_run: float("inf"), raw_run: float("inf")}
    for _ in range(rounds):
        for run in (raw_run, chat_run):
            start = time.process_time()
            units = run()
            best[run] = min(best[run], (time.process_time() - start) / units)
    return best[chat_run], best[raw_run]


def nonstream_runs(base_url: str, requests: int) -> tuple[Callable[[], int], Callable[[], int], Callable[[], None]]:
    import chatplug
    import httpx

    client = chatplug.Client(base_url=base_url, api_key="sk-bench", max_retries=0)
    raw = httpx.Client()
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

    def with_chatplug() -> int:
        for _ in range(requests):
            reply = client.chat.completions.create(model="bench-1", messages=MESSAGES, temperature=0.5, max_tokens=256)
            assert reply.choices[0].message.content
        return requests

    def with_httpx() -> int:
        for _ in range(requests):
            payload = {"model": "bench-1", "messages": MESSAGES, "temperature": 0.5, "max_tokens": 256}
            response = raw.post(url, content=json.dumps(payload).encode(), headers=headers)
            reply = json.loads(response.content)
            assert reply["choices"][0]["message"]["content"]
        return requests

    def close() -> None:
        client.close()
        raw.close()

    return with_chatplug, with_httpx, close


def stream_runs(base_url: str, chunks: int, streams: int) -> tuple[Callable[[], int], Callable[[], int],
                                                                    Callable[[], None]]:
    import chatplug
    import httpx

    client = chatplug.Client(base_url=base_url, api_key="sk-bench", max_retries=0)
    raw = httpx.Client()
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json", "Accept": "text/event-stream"}
    query = {"chunks": str(chunks)}

    def with_chatplug() -> int:
        seen = 0
        for _ in range(streams):
            with client.chat.completions.create(model="bench-1", messages=MESSAGES, stream=True,
                                                extra_query=query) as stream:
                for _ in stream:
                    seen += 1
        assert seen == streams * (chunks + 1)
        return seen

    def with_httpx() -> int:
        seen = 0
        for _ in range(streams):
            payload = {"model": "bench-1", "messages": MESSAGES, "stream": True}
            with raw.stream("POST", url, content=json.dumps(payload).encode(), headers=headers,
                            params=query) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        seen += 1
        assert seen == streams * (chunks + 1)
        return seen

    def close() -> None:
        client.close()
        raw.close()

    return with_chatplug, with_httpx, close


# ------------------------------------------------------------------- limiter


def limiter_overhead(base_url: str, requests: int, rounds: int, redis_url: str | None) -> dict[str, float]:
    """Wall seconds per sequential non-stream request with no limiter, an in-memory
    one and (given a URL) a Redis one, each limiting in-flight, requests and tokens.
    Needs ``chatplug[limits]`` (and ``chatplug[redis]`` for Redis)."""
    import chatplug

    rules = [chatplug.RateLimit(max_in_flight=1000, rpm=10_000_000, tpm=2_000_000_000)]
    limiters: dict[str, chatplug.Limiter | None] = {"none": None, "memory": chatplug.Limiter(rules)}
    if redis_url:
        limiters["redis"] = chatplug.Limiter(rules, storage=redis_url, namespace="chatplug-bench")
    best: dict[str, float] = {}
    clients = {name: chatplug.Client(base_url=base_url, api_key="sk-bench", max_retries=0, limiter=limiter)
               for name, limiter in limiters.items()}
    for client in clients.values():  # warm up: connections, plugins, Redis scripts
        for _ in range(20):
            client.chat.completions.create(model="bench-1", messages=MESSAGES, max_tokens=256)
    for _ in range(rounds):
        for name, client in clients.items():
            start = time.perf_counter()
            for _ in range(requests):
                client.chat.completions.create(model="bench-1", messages=MESSAGES, max_tokens=256)
            best[name] = min(best.get(name, float("inf")), (time.perf_counter() - start) / requests)
    for client in clients.values():
        client.close()
    return best


# ---------------------------------------------------------------------- load


async def _load_chatplug(base_url: str, streams: int, chunks: int) -> int:
    import chatplug
    import httpx

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=streams, max_keepalive_connections=streams),
                             timeout=120.0)
    client = chatplug.AsyncClient(base_url=base_url, api_key="sk-bench", http_client=http, max_retries=0)

    async def one(number: int) -> int:
        stream = await client.chat.completions.create(
            model="bench-1", messages=MESSAGES, stream=True, extra_query={"chunks": str(chunks), "tag": f"s{number}"}
        )
        async with stream:
            final = await stream.get_final_completion()
        assert final.choices[0].message.content == "".join(f"s{number}:{i};" for i in range(chunks))
        return 1

    done = sum(await asyncio.gather(*(one(number) for number in range(streams))))
    await http.aclose()
    return done


async def _load_httpx(base_url: str, streams: int, chunks: int) -> int:
    import httpx

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=streams, max_keepalive_connections=streams),
                             timeout=120.0)
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json", "Accept": "text/event-stream"}

    async def one(number: int) -> int:
        payload = {"model": "bench-1", "messages": MESSAGES, "stream": True}
        parts = []
        async with http.stream("POST", url, content=json.dumps(payload).encode(), headers=headers,
                               params={"chunks": str(chunks), "tag": f"s{number}"}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    data = json.loads(line[6:])
                    choices = data["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        parts.append(choices[0]["delta"]["content"])
        assert "".join(parts) == "".join(f"s{number}:{i};" for i in range(chunks))
        return 1

    done = sum(await asyncio.gather(*(one(number) for number in range(streams))))
    await http.aclose()
    return done


def load_worker(side: str, base_url: str, streams: int, chunks: int) -> None:
    """Run the load workload once with ``side``; print wall seconds and peak RSS (KiB) as JSON."""
    work = _load_chatplug if side == "chatplug" else _load_httpx
    start = time.perf_counter()
    done = asyncio.run(work(base_url, streams, chunks))
    wall = time.perf_counter() - start
    assert done == streams
    print(json.dumps({"wall": wall, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def measure_load(side: str, base_url: str, streams: int, chunks: int, rounds: int) -> tuple[float, float]:
    """Best wall time and least peak RSS (MiB) over ``rounds`` subprocess runs."""
    walls, rss = [], []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--load-worker", side, base_url, str(streams), str(chunks)],
            capture_output=True, text=True, check=True,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        walls.append(figures["wall"])
        rss.append(figures["rss_kib"] / 1024)
    return min(walls), min(rss)


# --------------------------------------------------------- instruction counts


def chunk_worker(side: str, base_url: str, chunks: int, streams: int) -> None:
    """Read ``streams`` streams of ``chunks`` chunks with one side (run under callgrind)."""
    chat_run, raw_run, close = stream_runs(base_url, chunks, streams)
    (chat_run if side == "chatplug" else raw_run)()
    close()


def count_instructions(side: str, base_url: str, chunks: int, streams: int) -> int:
    """Instructions callgrind counts for one chunk_worker process."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/out",
                   sys.executable, __file__, "--chunk-worker", side, base_url, str(chunks), str(streams)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no instruction count: {done.stderr[-500:]}")
    return int(match.group(1))


def instructions_per_chunk(side: str, base_url: str, chunks: int) -> float:
    """Instructions per chunk: two runs that differ only in the number of streams, so
    interpreter start-up, imports and connection set-up cancel out."""
    few = count_instructions(side, base_url, chunks, 1)
    many = count_instructions(side, base_url, chunks, 3)
    return (many - few) / (2 * (chunks + 1))


# ---------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test, not figures")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument("--startup", action="store_true",
                        help="only the fresh-process rows: import, first completion, chatplug --help")
    parser.add_argument("--compare", nargs="+", metavar="PYTHON",
                        help="only the first completion of the chatplug each of these interpreters has installed "
                        "(one venv per version), against raw httpx, in one run (best of 31; with --instructions, "
                        "their callgrind counts too)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-worker", nargs=4, metavar=("SIDE", "URL", "STREAMS", "CHUNKS"), help=argparse.SUPPRESS)
    parser.add_argument("--chunk-worker", nargs=4, metavar=("SIDE", "URL", "CHUNKS", "STREAMS"), help=argparse.SUPPRESS)
    parser.add_argument("--limiter", nargs="?", const="", metavar="REDIS_URL",
                        help="only measure the per-request cost of a shared limiter (in memory, and on Redis "
                        "when a URL is given) next to none; needs chatplug[limits] / chatplug[redis]")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per stream chunk under valgrind's callgrind: a ratio that machine noise "
        "does not move (about two more minutes)",
    )
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    if args.load_worker:
        side, url, streams, chunks = args.load_worker
        load_worker(side, url, int(streams), int(chunks))
        return 0
    if args.chunk_worker:
        side, url, chunks, streams = args.chunk_worker
        chunk_worker(side, url, int(chunks), int(streams))
        return 0

    quick = args.quick
    if args.compare:
        return compare_main(args.compare, 5 if quick else 31, args.instructions)
    if args.limiter is not None:
        return limiter_main(args.limiter or None, quick)
    results: dict[str, tuple[float, float, str]] = {}
    with loopback_server() as base_url:
        rounds = 3 if quick else 9
        raw_import = measure_import("import httpx", rounds)
        results["import"] = (measure_import("import chatplug", rounds), raw_import, "ms")
        # chatplug's modules load on first attribute access: this row is the whole core loaded.
        results["import+core"] = (measure_import("import chatplug; chatplug.Client", rounds), raw_import, "ms")
        import importlib.util

        if importlib.util.find_spec("chatplug_glm") is None:
            print("first completion: chatplug-glm is not installed; skipped", file=sys.stderr)
        else:
            runs = {side: (sys.executable, side) for side in ("httpx", "chatplug", "help")}
            fresh = measure_fresh(base_url, runs, 5 if quick else 21)
            results["first completion"] = (fresh["chatplug"][0], fresh["httpx"][0], "ms")
            results["first completion CPU"] = (fresh["chatplug"][1], fresh["httpx"][1], "ms")
            results["chatplug --help"] = (fresh["help"][0], fresh["httpx"][0], "ms")
            if args.instructions and shutil.which("valgrind") is not None:
                results["first completion instr"] = (fresh_instructions(base_url, "chatplug"),
                                                     fresh_instructions(base_url, "httpx"), "Minstr")
        if args.startup:
            return _report(results, args, quick)

        requests, cpu_rounds = (200, 2) if quick else (1500, 7)
        chat_run, raw_run, close = nonstream_runs(base_url, requests)
        chat_run(), raw_run()  # warm up: connections, caches, lazy plugin loading
        chat, raw = best_cpu(chat_run, raw_run, cpu_rounds)
        close()
        results["non-stream CPU"] = (chat, raw, "us")

        chunks, streams = (1000, 2) if quick else (2000, 10)
        chat_run, raw_run, close = stream_runs(base_url, chunks, streams)
        chat_run(), raw_run()
        chat, raw = best_cpu(chat_run, raw_run, cpu_rounds)
        close()
        results["per-chunk CPU"] = (chat, raw, "us")
        if args.instructions:
            if shutil.which("valgrind") is None:
                print("--instructions: valgrind is not installed; skipped", file=sys.stderr)
            else:
                counted = 500 if quick else 2000
                results["per-chunk instr"] = (
                    instructions_per_chunk("chatplug", base_url, counted),
                    instructions_per_chunk("httpx", base_url, counted),
                    "instr",
                )

        load_streams, load_chunks = (100, 50) if quick else (500, 50)
        load_rounds = 1 if quick else 3
        chat_wall, chat_rss = measure_load("chatplug", base_url, load_streams, load_chunks, load_rounds)
        raw_wall, raw_rss = measure_load("httpx", base_url, load_streams, load_chunks, load_rounds)
        results["load wall"] = (chat_wall, raw_wall, "s")
        results["load RSS"] = (chat_rss, raw_rss, "MiB")
    return _report(results, args, quick)


def _report(results: dict[str, tuple[float, float, str]], args: argparse.Namespace, quick: bool) -> int:
    import chatplug
    import httpx

    scale = {"ms": 1e3, "us": 1e6, "s": 1.0, "MiB": 1.0, "instr": 1.0, "Minstr": 1e-6}
    print(f"chatplug {chatplug.__version__}, httpx {httpx.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs{' (quick run: not figures)' if quick else ''}")
    print(f"{'measure':<22} {'chatplug':>12} {'raw httpx':>12} {'ratio':>7} {'target':>7}  verdict")
    missed = []
    for name, (chat, raw, unit) in results.items():
        ratio = chat / raw
        target = TARGETS[name]
        verdict = "-" if target is None else "ok" if ratio <= target else "MISSED"
        if verdict == "MISSED":
            missed.append(name)
        shown = "-" if target is None else f"{target:g}x"
        print(f"{name:<22} {chat * scale[unit]:>9.1f} {unit:<2} {raw * scale[unit]:>9.1f} {unit:<2} "
              f"{ratio:>6.2f}x {shown:>7}  {verdict}")
    if args.json:
        print(json.dumps({name: {"chatplug": chat, "httpx": raw, "ratio": chat / raw, "target": TARGETS[name]}
                          for name, (chat, raw, _) in results.items()}, indent=2))
    return 1 if missed and args.check and not quick else 0


def limiter_main(redis_url: str | None, quick: bool) -> int:
    """``--limiter``: the limiter table only."""
    with loopback_server() as base_url:
        figures = limiter_overhead(base_url, 100 if quick else 500, 2 if quick else 5, redis_url)
    none = figures["none"]
    print(f"{'limiter':<10} {'per request':>12} {'added':>10}")
    for name, seconds in figures.items():
        print(f"{name:<10} {seconds * 1e6:>9.0f} us {(seconds - none) * 1e6:>7.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
