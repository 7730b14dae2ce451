"""``python -m chatplug.testing``: record provider traffic as fixtures, and serve recordings.

::

    python -m chatplug.testing record --provider glm --model glm-4.5-flash --prompt "Hi" --stream --out fixtures/
    python -m chatplug.testing serve fixtures/            # prints http://127.0.0.1:PORT/v1
    python -m chatplug.testing live --out recordings/     # the live conformance set, every provider with a key

Exit codes: 0 done; 1 nothing could be recorded or served (connection
failed, a recording is unreadable); 2 bad arguments (an unknown provider, a
parameter that is not JSON, a file that exists).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


class _UsageError(Exception):
    """Bad arguments: exit 2 with the message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chatplug.testing",
                                     description="Record provider responses as fixtures, and serve them back.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    record = commands.add_parser(
        "record", help="send one request to a provider and store exactly what came back",
        description="Send one chat-completions request through chatplug and write the response, byte for byte, "
                    "as NAME.sse|.json|.txt plus NAME.source.txt (status, headers, request without credentials).")
    record.add_argument("--provider", required=True, help="provider id (chatplug providers lists them)")
    record.add_argument("--model", required=True, help="model name as the provider knows it")
    record.add_argument("--prompt", default="Say hello in five words.", help="the user message")
    record.add_argument("--system", help="a system message sent before the prompt")
    record.add_argument("--messages", type=Path, help="a JSON file holding the whole messages list (overrides "
                                                      "--prompt and --system)")
    record.add_argument("--stream", action="store_true", help="ask for a stream (SSE)")
    record.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a create() parameter; VALUE is JSON (max_tokens=64, stop='[\"x\"]'), else a string")
    record.add_argument("--extra-body", metavar="JSON", help="extra JSON fields merged into the request body")
    record.add_argument("--tools", type=Path, help="a JSON file holding the tools list")
    record.add_argument("--base-url", help="send the request here instead (a test server, a proxy)")
    record.add_argument("--endpoint", help="a named endpoint of the provider (china, coding, ...)")
    record.add_argument("--out", type=Path, default=Path("."), help="the folder to write to (a fixtures_dir)")
    record.add_argument("--name", help="file name stem (default: PROVIDER-KIND-MODEL)")
    prompt = record.add_mutually_exclusive_group()
    prompt.add_argument("--strip-prompt", action="store_true",
                        help="store the request with every message text replaced by '[prompt removed]'")
    prompt.add_argument("--replace-prompt", metavar="TEXT",
                        help="store the request with every message text replaced by TEXT")
    record.add_argument("--note", default="", help="a line added to the .source.txt")
    record.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    record.add_argument("--force", action="store_true", help="replace files that exist")

    serve = commands.add_parser(
        "serve", help="run a FakeServer that replies with recorded files",
        description="Run chatplug.testing.FakeServer on 127.0.0.1 replying with recordings; prints its base URL "
                    "on the first line of stdout, then runs until interrupted.")
    serve.add_argument("paths", nargs="+", type=Path, help="recording files or folders of recordings")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    serve.add_argument("--match", action="store_true",
                       help="pick the recording by the request's model and stream flag instead of in order")
    serve.add_argument("--loop", action="store_true", help="in order: start over after the last recording")
    serve.add_argument("--quiet", action="store_true", help="do not log each request on stderr")

    live = commands.add_parser(
        "live", help="record the standard set for every provider with a key, then check it",
        description="With provider keys set: record plain, stream, reasoning, tool-call and error responses for "
                    "each installed provider, run ProviderConformance on them, and report the shape differences "
                    "from the stored fixtures. Without keys it says so and exits 0.")
    live.add_argument("--out", type=Path, required=True, help="the folder to write recordings and the report to")
    live.add_argument("--provider", action="append", default=[], help="only this provider (repeatable)")
    live.add_argument("--fixtures", action="append", default=[], type=Path,
                      help="a folder of stored fixtures to compare with (repeatable; default: the project's)")
    live.add_argument("--no-conformance", action="store_true", help="record and compare, skip the pytest run")
    return parser


def _json_arg(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _UsageError(f"{what} is not JSON: {exc}") from None


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _UsageError(f"--param {item!r}: expected NAME=VALUE, e.g. --param max_tokens=64")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    if args.extra_body:
        extra = _json_arg(args.extra_body, "--extra-body")
        if not isinstance(extra, dict):
            raise _UsageError('--extra-body must be a JSON object, e.g. \'{"thinking": {"type": "enabled"}}\'')
        params["extra_body"] = extra
    if args.tools:
        tools = _json_arg(_read(args.tools, "--tools"), f"--tools {args.tools}")
        if not isinstance(tools, list):
            raise _UsageError(f"--tools {args.tools} must hold a JSON list of tool objects")
        params["tools"] = tools
    return params


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"{what} {path}: {exc.strerror or exc}") from None


def _messages(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.messages:
        messages = _json_arg(_read(args.messages, "--messages"), f"--messages {args.messages}")
        if not isinstance(messages, list):
            raise _UsageError(f"--messages {args.messages} must hold a JSON list of messages")
        return messages
    messages = [{"role": "system", "content": args.system}] if args.system else []
    return [*messages, {"role": "user", "content": args.prompt}]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def _record(args: argparse.Namespace) -> int:
    from chatplug.errors import ChatplugError
    from chatplug.testing._record import (
        PROMPT_REMOVED,
        NothingRecorded,
        existing_recording,
        record_call,
        save_fixture,
    )

    params = _params(args)
    messages = _messages(args)
    if not args.force:  # before the request: a paid call whose answer cannot be stored is lost
        planned = args.name or f"{args.provider}-{'stream' if args.stream else 'nonstream'}-{_slug(args.model)}"
        existing = existing_recording(args.out, planned)
        if existing is not None:
            raise _UsageError(f"{existing} exists; pick another --name or pass --force to replace it")
    try:
        recorded = record_call(provider=args.provider, model=args.model, messages=messages, stream=args.stream,
                               params=params, base_url=args.base_url, endpoint=args.endpoint, timeout=args.timeout)
    except ChatplugError as exc:  # an unknown provider or endpoint, a bad parameter: before any I/O
        raise _UsageError(str(exc)) from None
    except NothingRecorded as exc:
        print(f"python -m chatplug.testing record: {exc}", file=sys.stderr)
        return 1
    exchange = recorded.exchange
    kind = ("stream" if args.stream else "nonstream") if exchange.status < 400 else f"error-{exchange.status}"
    name = args.name or f"{recorded.provider.id}-{kind}-{_slug(args.model)}"
    replacement = PROMPT_REMOVED if args.strip_prompt else args.replace_prompt
    note = args.note
    try:
        paths = save_fixture(exchange, args.out, name, provider_name=recorded.provider.name,
                             base_url_note=f" through {args.base_url}" if args.base_url else "",
                             prompt_replacement=replacement, note=note, overwrite=args.force)
    except FileExistsError as exc:
        raise _UsageError(str(exc)) from None
    print(f"HTTP {exchange.status} {exchange.content_type or '(no content type)'}, {len(exchange.body)} bytes; "
          f"chatplug read it as: {recorded.outcome}", file=sys.stderr)
    if exchange.redactions:
        print(f"a secret was found in the traffic and replaced by *** in {exchange.redactions} place(s)",
              file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from chatplug.testing._replay import RecordingPlayer, load_recordings
    from chatplug.testing._server import FakeServer, RecordedRequest, Reply

    try:
        recordings = load_recordings(args.paths)
    except (OSError, ValueError) as exc:
        print(f"python -m chatplug.testing serve: {exc}", file=sys.stderr)
        return 1
    player = RecordingPlayer(recordings, match=args.match, loop=args.loop)

    def respond(request: RecordedRequest) -> Reply:
        reply = player(request)
        if not args.quiet:
            print(f"{request.method} {request.path} -> HTTP {reply.status}", file=sys.stderr, flush=True)
        return reply

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = FakeServer(port=args.port, responder=respond).start()
    except OSError as exc:
        print(f"python -m chatplug.testing serve: {exc}", file=sys.stderr)
        return 1
    try:
        print(server.base_url, flush=True)
        mode = "matched by model and stream" if args.match else ("in order, looping" if args.loop else "in order")
        print(f"serving {len(recordings)} recording(s), {mode}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _live(args: argparse.Namespace) -> int:
    from chatplug.testing._live import run_live

    return run_live(out=args.out, providers=args.provider, fixture_dirs=args.fixtures,
                    conformance=not args.no_conformance)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "record":
            return _record(args)
        if args.command == "serve":
            return _serve(args)
        return _live(args)
    except _UsageError as exc:
        print(f"python -m chatplug.testing {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
