"""One app instance: sends ``requests`` chat calls, ``concurrency`` at a time,
through a client with a Limiter, and prints a JSON summary line.

Run by the scale tests as ``python scale_worker.py '<json options>'``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import chatplug
from scale_support import KEY, MESSAGES, registry_for  # the script's folder is on sys.path


def limiter_from(options: dict[str, Any]) -> chatplug.Limiter:
    rule = chatplug.RateLimit(**options["limit"])
    return chatplug.Limiter([rule], storage=options["redis"], max_wait=options.get("max_wait", 30.0),
                            lease=options.get("lease", 30.0))


def run_sync(options: dict[str, Any]) -> dict[str, int]:
    counts = {"ok": 0, "waited_too_long": 0}
    lock = threading.Lock()
    headers = options.get("headers") or None
    with chatplug.Client(provider="scaleprov", api_key=KEY, registry=registry_for(options["url"]),
                         base_url=options["url"], limiter=limiter_from(options), max_retries=0) as client:

        def one(_: int) -> None:
            try:
                client.chat.completions.create(model="t-1", messages=MESSAGES, max_tokens=options.get("max_tokens"),
                                               extra_headers=headers)
                outcome = "ok"
            except chatplug.LimitWaitTimeoutError:
                outcome = "waited_too_long"
            with lock:
                counts[outcome] += 1

        with ThreadPoolExecutor(options.get("concurrency", 10)) as pool:
            list(pool.map(one, range(options["requests"])))
    return counts


async def run_async(options: dict[str, Any]) -> dict[str, int]:
    counts = {"ok": 0, "waited_too_long": 0}
    gate = asyncio.Semaphore(options.get("concurrency", 10))
    headers = options.get("headers") or None
    async with chatplug.AsyncClient(provider="scaleprov", api_key=KEY, registry=registry_for(options["url"]),
                                    base_url=options["url"], limiter=limiter_from(options), max_retries=0) as client:

        async def one() -> None:
            async with gate:
                try:
                    await client.chat.completions.create(model="t-1", messages=MESSAGES,
                                                         max_tokens=options.get("max_tokens"), extra_headers=headers)
                    counts["ok"] += 1
                except chatplug.LimitWaitTimeoutError:
                    counts["waited_too_long"] += 1

        await asyncio.gather(*(one() for _ in range(options["requests"])))
    return counts


def main() -> None:
    options = json.loads(sys.argv[1])
    print(json.dumps({"started": True}), flush=True)
    counts = asyncio.run(run_async(options)) if options.get("mode") == "async" else run_sync(options)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
