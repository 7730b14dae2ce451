"""The snippets a user pastes from README.md and docs/*.md run as written.

A fenced block preceded by ``<!-- snippet: NAME -->`` is extracted verbatim
and run here: Python in a fresh interpreter (a subprocess) with a temporary
HOME and config directory, against a loopback FakeServer. Snippets that need a
real provider key get a fake one, and the provider's base-URL variable
(``ZAI_BASE_URL``, ``MOONSHOT_BASE_URL``) points at the loopback server, so the
code itself is not changed by one character. Each test then checks what the
snippet printed and the requests the server received.

The plugin walk-through (the ``acme-*`` snippets) writes the plugin module,
its ``pyproject.toml`` and its conformance test to a folder, installs it with
pip, lists it with ``chatplug providers`` and runs the conformance test with
pytest from another working directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from chatplug.testing import FakeServer, Reply

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

ZAI_KEY = "sk-zai-snippet-0123456789"
MOONSHOT_KEY = "sk-moonshot-snippet-0123456789"

#: ``<!-- snippet: NAME ... -->``, then a fenced block (possibly indented, in a list item).
_SNIPPET = re.compile(
    r"^(?P<indent>[ \t]*)<!-- snippet: (?P<name>[\w.-]+)[^\n]*-->\n"
    r"(?P=indent)```(?P<lang>\w*)\n(?P<code>.*?)\n(?P=indent)```",
    re.MULTILINE | re.DOTALL,
)

#: Every marked snippet, by document: a marker that disappears fails the test.
EXPECTED = {
    "README.md": {"quickstart", "async", "glm-tools", "kimi-extras", "acme-plugin", "acme-pyproject",
                  "acme-conformance", "audit"},
    "docs/hooks.md": {"usage-meter"},
    "docs/reliability.md": {"tuning"},
    "docs/writing-a-provider.md": {"deepseek-pyproject", "providers-toml"},
}


def _snippets() -> dict[str, tuple[str, str, str]]:
    """name -> (document, language, code) for every marked block."""
    found: dict[str, tuple[str, str, str]] = {}
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in _SNIPPET.finditer(text):
            name = match["name"]
            assert name not in found, f"snippet {name!r} is marked twice"
            code = textwrap.dedent(match["code"])
            found[name] = (str(document.relative_to(ROOT)), match["lang"], code + "\n")
    return found


SNIPPETS = _snippets()


def snippet(name: str) -> str:
    return SNIPPETS[name][2]


def test_every_expected_snippet_is_marked() -> None:
    by_document: dict[str, set[str]] = {}
    for name, (document, _, _) in SNIPPETS.items():
        by_document.setdefault(document, set()).add(name)
    for document, names in EXPECTED.items():
        assert names <= by_document.get(document, set()), f"{document}: missing snippet markers"


# ------------------------------------------------------------------ helpers


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    (folder / "config").mkdir(parents=True)
    return folder


def _env(home: Path, server: FakeServer | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: a temporary HOME and config folder, no real key, no plugin filter."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if server is not None:
        env.update(ZAI_API_KEY=ZAI_KEY, MOONSHOT_API_KEY=MOONSHOT_KEY,
                   ZAI_BASE_URL=server.base_url, MOONSHOT_BASE_URL=server.base_url)
    env.update(extra)
    return env


def run_python(code: str, cwd: Path, env: Mapping[str, str]) -> str:
    """Run ``code`` as a script in a fresh interpreter; its stdout (it must exit 0 with no stderr)."""
    script = cwd / "snippet.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, env=dict(env), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"the snippet failed ({done.returncode}):\n{code}\n--- stderr:\n{done.stderr}"
    assert done.stderr == ""
    return done.stdout


def completion(content: str | None, *, reasoning: str | None = None, tool_calls: list[dict[str, Any]] | None = None,
               model: str = "glm-4.6") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"id": "chatcmpl-snippet", "object": "chat.completion", "created": 1764547200, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}}


def stream_chunks(pieces: list[str], model: str) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [
        {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1764547200, "model": model,
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}
        for piece in pieces
    ]
    chunks.append({"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1764547200, "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 9, "completion_tokens": len(pieces), "total_tokens": 9 + len(pieces)}})
    return chunks


def _auth(request: Any) -> str | None:
    return request.headers.get("authorization")  # type: ignore[no-any-return]


# ------------------------------------------------------------------ README


def test_quickstart(server: FakeServer, home: Path) -> None:
    server.add(Reply.json(completion("Tiber, Po, Arno.", reasoning="Three Italian rivers.")),
               Reply.sse(stream_chunks(["Rain on ", "the roof"], "kimi-k2-0905-preview")))
    out = run_python(snippet("quickstart"), home, _env(home, server))
    lines = out.splitlines()
    assert lines[:4] == ["Tiber, Po, Arno.", "Three Italian rivers.", "30", "Rain on the roof"]
    assert "total_tokens=11" in lines[4]
    first, second = server.requests
    question = {"role": "user", "content": "Name three rivers of Italy."}
    assert first.json() == {"model": "glm-4.6", "messages": [question], "temperature": 0.7, "max_tokens": 256}
    assert _auth(first) == f"Bearer {ZAI_KEY}"
    assert second.json()["model"] == "kimi-k2-0905-preview" and second.json()["stream"] is True
    assert _auth(second) == f"Bearer {MOONSHOT_KEY}"


def test_async(server: FakeServer, home: Path) -> None:
    server.add(Reply.sse(stream_chunks(["Soft rain ", "falls"], "glm-4.6")))
    out = run_python(snippet("async"), home, _env(home, server))
    assert out == "Soft rain falls\n11\n"
    assert server.last_request.json()["model"] == "glm-4.6"
    assert _auth(server.last_request) == f"Bearer {ZAI_KEY}"


def test_glm_tool_call_loop(server: FakeServer, home: Path) -> None:
    call = {"id": "call_-8123", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Florence"}'}}
    server.add(Reply.json(completion(None, reasoning="I need the weather tool.", tool_calls=[call])),
               Reply.json(completion("21 °C and sunny in Florence.")))
    out = run_python(snippet("glm-tools"), home, _env(home, server))
    assert out == "21 °C and sunny in Florence.\n"
    first, second = (request.json() for request in server.requests)
    assert first["thinking"] == {"type": "enabled"}
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_-8123", "content": '{"temp_c": 21}'}
    assert second["messages"][1]["tool_calls"][0]["id"] == "call_-8123"


def test_kimi_partial_mode_and_web_search(server: FakeServer, home: Path) -> None:
    search = {"id": "$web_search:0", "type": "builtin_function",
              "function": {"name": "$web_search", "arguments": '{"search_result": {"search_id": "s-1"}}'}}
    model = "kimi-k2-0905-preview"
    server.add(Reply.json(completion('"name": "SmartHome Mini", "price": 998}', model=model)),
               Reply.json(completion(None, tool_calls=[search], model=model)),
               Reply.json(completion("Python 3.14 adds template strings.", model=model)))
    out = run_python(snippet("kimi-extras"), home, _env(home, server))
    assert out == '{"name": "SmartHome Mini", "price": 998}\nPython 3.14 adds template strings.\n'
    partial, _, answer = (request.json() for request in server.requests)
    assert partial["messages"][-1] == {"role": "assistant", "content": "{", "partial": True}
    assert answer["messages"][-1] == {"role": "tool", "tool_call_id": "$web_search:0", "name": "$web_search",
                                      "content": '{"search_result": {"search_id": "s-1"}}'}
    assert all(_auth(request) == f"Bearer {MOONSHOT_KEY}" for request in server.requests)


def test_audit_observer(home: Path) -> None:
    # The snippet registers the observer; one call through a keyless local server shows it at work.
    with FakeServer() as server:
        server.add(Reply.json(completion("ok", model="local")))
        code = snippet("audit") + textwrap.dedent(f"""
            import sys
            log.addHandler(logging.StreamHandler(sys.stdout))
            log.setLevel(logging.INFO)
            chatplug.Client(base_url="{server.base_url}").chat.completions.create(
                model="local", messages=[{{"role": "user", "content": "hi"}}])
        """)
        out = run_python(code, home, _env(home))
    assert out.splitlines()[0] == "-> custom local attempt 0"
    assert out.splitlines()[1].startswith("<- 1 Usage(")


# ------------------------------------------------------------------- docs


def test_usage_meter(server: FakeServer, home: Path) -> None:
    server.add(Reply.json(completion("ok")))
    code = snippet("usage-meter") + textwrap.dedent("""
        chatplug.Client().chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
        print(dict(meter.tokens))
    """)
    assert run_python(code, home, _env(home, server)) == "{'glm': 30}\n"


def test_tuning_timeouts_and_retries(server: FakeServer, home: Path) -> None:
    server.add(Reply.retry_later(429, retry_after=0), Reply.json(completion("Hamlet dithers.", model="kimi")))
    code = snippet("tuning") + "print(reply.choices[0].message.content)\n"
    assert run_python(code, home, _env(home, server)) == "Hamlet dithers.\n"
    assert len(server.requests) == 2  # the 429 was retried, as max_retries=4 allows


def test_providers_toml(home: Path) -> None:
    config = home / "config" / "chatplug" / "providers.toml"
    config.parent.mkdir(parents=True)
    config.write_text(snippet("providers-toml"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "chatplug", "providers"], cwd=home, env=_env(home),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "http://127.0.0.1:8000/v1" in rows["local-vllm"]
    assert "OLLAMA_API_KEY (not set)" in rows["ollama"]
    assert "failed" not in done.stderr


def test_deepseek_pyproject_excerpt_matches_the_example() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    excerpt = tomllib.loads(snippet("deepseek-pyproject"))
    real = tomllib.loads((ROOT / "examples/deepseek/pyproject.toml").read_text(encoding="utf-8"))
    assert excerpt["build-system"]["build-backend"] == real["build-system"]["build-backend"]
    for key, value in excerpt["project"].items():
        if key != "entry-points":
            assert real["project"][key] == value, key
    assert excerpt["project"]["entry-points"] == real["project"]["entry-points"]


# ------------------------------------------------------- the plugin walk-through

SSE_HELLO = "".join(
    "data: " + json.dumps(chunk) + "\n\n" for chunk in stream_chunks(["Hel", "lo!"], "acme-large")
) + "data: [DONE]\n\n"
ERROR_429 = {"error": {"message": "Rate limit reached, slow down", "type": "rate_limit_error", "code": "rate_limit"}}


def test_plugin_walkthrough_installs_lists_and_passes_conformance(tmp_path: Path, home: Path) -> None:
    project = tmp_path / "chatplug-acme"
    module = project / "src" / "chatplug_acme" / "__init__.py"
    test_file = project / "tests" / "test_acme_conformance.py"
    for path, name in ((module, "acme-plugin"), (project / "pyproject.toml", "acme-pyproject"),
                       (test_file, "acme-conformance")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(snippet(name), encoding="utf-8")
    recorded = test_file.parent / "recorded"  # the snippet's fixtures_dir, next to the test file
    recorded.mkdir()
    (recorded / "acme-stream.sse").write_text(SSE_HELLO, encoding="utf-8")
    (recorded / "acme-error-429.json").write_text(json.dumps(ERROR_429), encoding="utf-8")

    # Installed with pip into a folder on PYTHONPATH: the entry point is found there like in a venv.
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--target", str(site), str(project)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    env = _env(home, PYTHONPATH=str(site))

    listing = subprocess.run([sys.executable, "-m", "chatplug", "providers"], cwd=home, env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    acme = next(line for line in listing.stdout.splitlines() if line.startswith("acme "))
    assert acme.split()[1:3] == ["chatplug-acme", "0.1.0"]

    # Run from the home folder, not the project: fixtures_dir is relative to the test file.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                           cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary
