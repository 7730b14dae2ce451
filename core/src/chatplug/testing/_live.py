"""Live conformance: record a small standard set from every provider whose key is
set, check it with :class:`~chatplug.testing.ProviderConformance`, and report how
its shape differs from the stored fixtures.

``python -m chatplug.testing live --out DIR`` (or ``tox -e live``). Per provider:

- ``plain`` (a completion), ``stream``, ``reasoning`` (streamed), ``tool``
  (a streamed tool call) and ``error`` (an unknown model, caused on purpose);
- written to ``DIR/<provider>/<provider>-live-<kind>.*`` with their ``.source.txt``;
- a generated ``test_live_conformance.py`` next to them, run with pytest;
- ``DIR/report.md``: per recording, the shape differences from the stored
  fixtures of that provider (fields present, their types, finish reasons,
  where usage travels; never the values).

Without any key it records nothing, says so, and exits 0.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attr

from chatplug.testing._record import NothingRecorded, Recorded, record_call, save_fixture
from chatplug.testing._server import sse_events

__all__ = ["Scenario", "Shape", "compare_shapes", "run_live", "scenarios_for", "shape_of"]

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
#: The model that does not exist, for the error recording.
MISSING_MODEL = "chatplug-no-such-model"

#: Known providers: the cheap model for the set, and how to ask for reasoning.
_PROFILES: dict[str, dict[str, Any]] = {
    "glm": {"model": "glm-4.5-flash", "reasoning_model": "glm-4.5-flash",
            "reasoning_body": {"thinking": {"type": "enabled"}}},
    "kimi": {"model": "kimi-k2-0905-preview", "reasoning_model": "kimi-k2-thinking"},
    "deepseek": {"model": "deepseek-chat", "reasoning_model": "deepseek-reasoner"},
}


@attr.frozen
class Scenario:
    """One request of the standard set."""

    kind: str
    model: str
    stream: bool
    messages: list[dict[str, Any]]
    params: dict[str, Any] = attr.field(factory=dict)


def _env_suffix(provider_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", provider_id).upper()


def scenarios_for(provider: Any, environ: Mapping[str, str] | None = None) -> list[Scenario] | str:
    """The standard set for ``provider``, or why it cannot be built (no model known)."""
    environ = os.environ if environ is None else environ
    profile = _PROFILES.get(provider.id, {})
    suffix = _env_suffix(provider.id)
    model = environ.get(f"CHATPLUG_LIVE_MODEL_{suffix}") or profile.get("model") or (
        provider.models[0] if provider.models else None)
    if not model:
        return f"no model known: set CHATPLUG_LIVE_MODEL_{suffix}"
    reasoning = environ.get(f"CHATPLUG_LIVE_REASONING_MODEL_{suffix}") or profile.get("reasoning_model") or next(
        (m for m in provider.models if "reason" in m or "think" in m), model)
    hello = [{"role": "user", "content": "Say hello in five words."}]
    think = [{"role": "user", "content": "What is 17 * 3? Think it through, then answer with the number only."}]
    weather = [{"role": "user", "content": "What's the weather in Paris? Use the tool."}]
    reasoning_params = {"extra_body": profile["reasoning_body"]} if "reasoning_body" in profile else {}
    return [
        Scenario("plain", model, False, hello, {"max_tokens": 512}),
        Scenario("stream", model, True, hello, {"max_tokens": 512}),
        Scenario("reasoning", reasoning, True, think, dict(reasoning_params)),
        Scenario("tool", model, True, weather, {"tools": [WEATHER_TOOL], "tool_choice": "auto"}),
        Scenario("error", MISSING_MODEL, False, hello),
    ]


# ------------------------------------------------------------------ shapes


@attr.define
class Shape:
    """What a response looks like, values left out."""

    kind: str  # "stream", "completion" or "error"
    fields: dict[str, set[str]] = attr.field(factory=dict)
    finish_reasons: set[str] = attr.field(factory=set)
    usage: set[str] = attr.field(factory=set)
    framing: set[str] = attr.field(factory=set)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "object"


def _walk(value: Any, where: str, fields: dict[str, set[str]]) -> None:
    fields.setdefault(where, set()).add(_type_name(value))
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{where}.{key}", fields)
    elif isinstance(value, list):
        for item in value:
            _walk(item, f"{where}[]", fields)


def _finish_reasons(choices: Any) -> set[str]:
    return {str(c["finish_reason"]) for c in choices or [] if isinstance(c, dict) and c.get("finish_reason")}


def shape_of(path: Path) -> Shape | None:
    """The shape of a recorded stream, completion or error body (None for anything else)."""
    data = path.read_bytes()
    if path.suffix == ".sse":
        shape = Shape("stream")
        events = sse_events(data)
        shape.framing.add("CRLF line endings" if b"\r\n" in data else "LF line endings")
        if any(event.lstrip().startswith(b":") for event in events):
            shape.framing.add("keep-alive comments")
        for event in events:
            for line in event.splitlines():
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    shape.framing.add("data: [DONE]")
                    continue
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    shape.framing.add("a data line that is not JSON")
                    continue
                _walk(chunk, "chunk", shape.fields)
                if not isinstance(chunk, dict):
                    continue
                choices = chunk.get("choices")
                shape.finish_reasons |= _finish_reasons(choices)
                if chunk.get("usage"):
                    if not choices:
                        shape.usage.add("a separate usage chunk (choices: [])")
                    elif _finish_reasons(choices):
                        shape.usage.add("top-level usage on the finish chunk")
                    else:
                        shape.usage.add("top-level usage on a content chunk")
                if any(isinstance(c, dict) and c.get("usage") for c in choices or []):
                    shape.usage.add("usage inside choices[]")
        if not shape.usage:
            shape.usage.add("no usage")
        return shape
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if "error" in body and "choices" not in body:
        shape = Shape("error")
        _walk(body, "body", shape.fields)
        return shape
    if "choices" not in body or body.get("object") == "chat.completion.chunk":
        return None
    shape = Shape("completion")
    _walk(body, "completion", shape.fields)
    shape.finish_reasons = _finish_reasons(body.get("choices"))
    shape.usage.add("top-level usage" if body.get("usage") else "no usage")
    return shape


def compare_shapes(live: Shape, stored: Sequence[Shape]) -> list[str]:
    """What differs between a live shape and the stored ones of the same kind (empty: nothing)."""
    if not stored:
        return [f"no stored {live.kind} fixture to compare with"]
    union: dict[str, set[str]] = {}
    for shape in stored:
        for path, types in shape.fields.items():
            union.setdefault(path, set()).update(types)
    common = set.intersection(*(set(shape.fields) for shape in stored))
    lines: list[str] = []
    new = sorted(path for path in live.fields if path not in union)
    if new:
        lines.append("fields in the live response, in no stored fixture: "
                     + ", ".join(f"{p} ({'|'.join(sorted(live.fields[p]))})" for p in new))
    gone = sorted(path for path in common if path not in live.fields)
    if gone:
        lines.append("fields in every stored fixture, missing live: " + ", ".join(gone))
    changed = sorted(p for p in live.fields if p in union and not live.fields[p] <= union[p])
    if changed:
        lines.append("types not seen in the stored fixtures: " + ", ".join(
            f"{p} live {'|'.join(sorted(live.fields[p]))}, stored {'|'.join(sorted(union[p]))}" for p in changed))
    stored_reasons = set().union(*(shape.finish_reasons for shape in stored))
    if live.finish_reasons - stored_reasons:
        lines.append(f"finish reasons live {sorted(live.finish_reasons)}, stored {sorted(stored_reasons)}")
    stored_usage = set().union(*(shape.usage for shape in stored))
    if live.usage - stored_usage:
        lines.append(f"usage live: {', '.join(sorted(live.usage))}; stored: {', '.join(sorted(stored_usage))}")
    stored_framing = set().union(*(shape.framing for shape in stored))
    if live.framing - stored_framing:
        lines.append(f"stream framing new live: {', '.join(sorted(live.framing - stored_framing))}; "
                     f"stored: {', '.join(sorted(stored_framing)) or 'none'}")
    return lines


def _stored_fixtures(provider_id: str, folders: Iterable[Path]) -> list[tuple[Path, Shape]]:
    found: list[tuple[Path, Shape]] = []
    seen: set[str] = set()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if (not path.name.startswith(f"{provider_id}-") or "-live-" in path.name or path.name in seen
                    or path.suffix not in (".sse", ".json")):
                continue
            shape = shape_of(path)
            if shape is not None:
                seen.add(path.name)
                found.append((path, shape))
    return found


def default_fixture_dirs(root: Path | None = None) -> list[Path]:
    """The project's fixture folders, seen from ``root`` (default: the current directory)."""
    root = Path.cwd() if root is None else root
    return sorted({*root.glob("tests/*/fixtures"), *root.glob("tests/all/*/fixtures"),
                   *root.glob("examples/*/tests/fixtures")})


# ------------------------------------------------------------------ conformance


def _expected(path: Path) -> dict[str, Any]:
    """A subset of the final completion read straight from the bytes (not through chatplug)."""
    shape_id: Any = None
    reason: Any = None
    if path.suffix == ".sse":
        for event in sse_events(path.read_bytes()):
            for line in event.splitlines():
                payload = line[5:].strip() if line.startswith(b"data:") else b""
                if not payload or payload == b"[DONE]":
                    continue
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(chunk, dict):
                    shape_id = shape_id or chunk.get("id")
                    for choice in chunk.get("choices") or []:
                        if isinstance(choice, dict) and choice.get("index", 0) == 0 and choice.get("finish_reason"):
                            reason = choice["finish_reason"]
    else:
        body = json.loads(path.read_bytes())
        shape_id = body.get("id")
        reason = (body.get("choices") or [{}])[0].get("finish_reason")
    expected: dict[str, Any] = {"choices": [{"finish_reason": reason}]}
    if shape_id:
        expected["id"] = shape_id
    return expected


def _entry_point_for(provider: Any) -> str | None:
    for entry in metadata.entry_points(group="chatplug"):
        if entry.dist is not None and entry.dist.name == provider.distribution:
            return entry.name
    return None


def _conformance_module(provider: Any, entry_point: str, folder: Path,
                        recorded: list[tuple[Scenario, Recorded, Path]]) -> str:
    transcripts = []
    errors = []
    for scenario, result, body in recorded:
        if result.error is None:
            request = {k: v for k, v in scenario.params.items() if k == "extra_body"}
            transcripts.append(f"        Transcript({body.name!r}, model={scenario.model!r}, "
                               f"expected={_expected(body)!r}, request={request!r}),")
        elif result.exchange.status >= 400:
            error = result.error
            errors.append(f"        ErrorSample({body.name!r}, status={result.exchange.status}, "
                          f"error=chatplug.{type(error).__name__}, retryable={error.retryable!r}),")
    return "\n".join([
        f'"""Generated by python -m chatplug.testing live: {provider.id} against its own fresh recordings."""',
        "",
        "import chatplug",
        "from chatplug.testing import ErrorSample, ProviderConformance, Transcript",
        "",
        "",
        "class TestLiveConformance(ProviderConformance):",
        f"    provider_id = {provider.id!r}",
        f"    entry_point = {entry_point!r}",
        f"    fixtures_dir = {str(folder)!r}",
        "    transcripts = (",
        *transcripts,
        "    )",
        "    error_samples = (",
        *errors,
        "    )",
        "",
    ])


def _run_conformance(module: Path) -> tuple[bool, str]:
    try:
        import pytest  # noqa: F401 - the kit needs it
    except ImportError:
        return True, "skipped: pytest is not installed (pip install pytest)"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-c", os.devnull,
         "--rootdir", str(module.parent), str(module)],
        capture_output=True, text=True, encoding="utf-8", errors="replace", cwd=module.parent,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 0, "\n".join(lines[-25:])


# ------------------------------------------------------------------ the command


def _keys(provider: Any) -> list[str]:
    return [os.environ[name] for name in provider.api_key_env if os.environ.get(name)]


def run_live(*, out: Path, providers: Sequence[str] = (), fixture_dirs: Sequence[Path] = (),
             conformance: bool = True) -> int:
    """Record, check and report for every installed provider with a key; returns the exit code."""
    from chatplug.plugins import default_registry

    installed = default_registry().providers()
    unknown = [name for name in providers if name not in installed]
    if unknown:
        print(f"live: unknown provider(s) {', '.join(unknown)}; installed: {', '.join(sorted(installed))}",
              file=sys.stderr)
        return 2
    chosen = [installed[name] for name in (providers or sorted(installed))]
    keyed = [p for p in chosen if _keys(p)]
    report: list[str] = ["# chatplug live conformance", ""]
    for provider in chosen:
        if provider not in keyed:
            names = ", ".join(provider.api_key_env) or "(no key variable declared)"
            report.append(f"- {provider.id}: skipped, no key set ({names})")
    if not keyed:
        wanted = sorted({name for p in chosen for name in p.api_key_env})
        print(f"live: no provider key is set (looked for {', '.join(wanted)}): nothing recorded, nothing checked. "
              "Set a key to record the live set.")
        return 0
    folders = list(fixture_dirs) or default_fixture_dirs()
    failed = False
    secrets: list[str] = []
    for provider in keyed:
        secrets += _keys(provider)
        ok = _live_provider(provider, out / provider.id, folders, conformance, report)
        failed = failed or not ok
    leaked = [path for path in out.rglob("*") if path.is_file()
              and any(secret.encode() in path.read_bytes() for secret in secrets)]
    if leaked:  # never expected: every file was scrubbed when written
        for path in leaked:
            path.unlink()
        report.append(f"\nA KEY WAS FOUND in {len(leaked)} file(s); they were deleted. Please report this bug.")
        failed = True
    report.append("")
    report.append(f"Recordings in {out}. To send them to the project, see docs/live-conformance.md "
                  "(no file holds a key; check the prompts you are willing to share).")
    text = "\n".join(report) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if failed else 0


def _live_provider(provider: Any, folder: Path, fixture_dirs: Sequence[Path], conformance: bool,
                   report: list[str]) -> bool:
    report += ["", f"## {provider.id}", ""]
    scenarios = scenarios_for(provider)
    if isinstance(scenarios, str):
        report.append(f"- skipped: {scenarios}")
        return True
    ok = True
    recorded: list[tuple[Scenario, Recorded, Path]] = []
    for scenario in scenarios:
        try:
            result = record_call(provider=provider.id, model=scenario.model, messages=scenario.messages,
                                 stream=scenario.stream, params=scenario.params)
        except NothingRecorded as exc:
            report.append(f"- {scenario.kind}: NOT RECORDED ({exc})")
            ok = False
            continue
        body, _ = save_fixture(result.exchange, folder, f"{provider.id}-live-{scenario.kind}", overwrite=True,
                               provider_name=provider.name, note=f"live conformance set, scenario {scenario.kind}")
        recorded.append((scenario, result, body))
        report.append(f"- {scenario.kind}: HTTP {result.exchange.status}, {body.name}; chatplug read: "
                      f"{result.outcome.splitlines()[0][:200]}")
        if scenario.kind == "error" and result.exchange.status < 400:
            report.append("  (the unknown model was accepted: no error recorded)")
        if scenario.kind != "error" and result.error is not None:
            ok = False
    stored = _stored_fixtures(provider.id, fixture_dirs)
    report += ["", f"Shape differences from {len(stored)} stored {provider.id} fixture(s):"]
    for _, _, body in recorded:
        live = shape_of(body)
        if live is None:
            report.append(f"- {body.name}: not a completion, stream or error body")
            continue
        same_kind = [shape for _, shape in stored if shape.kind == live.kind]
        differences = compare_shapes(live, same_kind)
        report.append(f"- {body.name} ({live.kind}, against {len(same_kind)}): "
                      + ("same shape" if not differences else "differs"))
        report += [f"    - {line}" for line in differences]
    if conformance and recorded:
        entry_point = _entry_point_for(provider)
        if entry_point is None:
            report += ["", "ProviderConformance: skipped (the provider comes from no installed plugin: a config "
                           "provider has no plugin to check)"]
        else:
            module = folder / "test_live_conformance.py"
            module.write_text(_conformance_module(provider, entry_point, folder, recorded), encoding="utf-8")
            passed, summary = _run_conformance(module)
            ok = ok and passed
            report += ["", f"ProviderConformance on the new recordings: {'passed' if passed else 'FAILED'}", "",
                       "```", summary, "```"]
    return ok
