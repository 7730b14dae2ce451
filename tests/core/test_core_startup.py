"""A fresh process reaches its first completion without one-time costs it does not need.

Not timed (the machine is noisy; ``benchmarks/bench.py`` reports the times):
these tests pin down *what* a process loads, so a change that brings a cost
back fails here. A sync request and a stream load neither cattrs (the public
converter is built on first access), nor ``importlib.metadata`` (entry points
are read from the standard ``*.dist-info`` layout), nor asyncio.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import chatplug
import pytest
from chatplug import _entrypoints
from chatplug.testing import FakeServer, Reply
from core_support import completion_body

CORE_SRC = Path(chatplug.__file__).parent


def run_python(code: str, **env: str) -> Any:
    """Run ``code`` in a fresh interpreter; the JSON it prints last."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CHATPLUG_")}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_sync_request_and_a_stream_load_no_cattrs_metadata_or_asyncio(server: FakeServer) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "streamed"}, "finish_reason": "stop"}]}
    server.add(Reply.json(completion_body("whole")), Reply.sse([chunk]))
    result = run_python(f"""
        import json, sys
        import chatplug
        client = chatplug.Client(base_url={server.base_url!r})
        whole = client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}])
        with client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}],
                                            stream=True) as stream:
            streamed = stream.get_final_completion()
        heavy = ["cattrs", "importlib.metadata", "asyncio", "zipfile", "csv"]
        print(json.dumps({{"replies": [whole.choices[0].message.content, streamed.choices[0].message.content],
                           "round_trip": whole.to_dict()["choices"][0]["message"],
                           "loaded": [name for name in heavy if name in sys.modules]}}))
    """)
    assert result["replies"] == ["whole", "streamed"]
    assert result["round_trip"] == {"role": "assistant", "content": "whole"}
    assert result["loaded"] == []


#: What a plain non-stream call never needs: streams, key pools, fallbacks, limits, the request
#: and stream sides of the contract, the names of create()'s parameters when it is given none,
#: the providers-file parser when there is no such file, the request event no observer asked
#: for, the record of a plugin failure (and cattrs).
NOT_ON_THE_PLAIN_PATH = [
    "chatplug._streaming",
    "chatplug._accumulate",
    "chatplug._sse",
    "chatplug._keypool",
    "chatplug._fallback",
    "chatplug._limits",
    "chatplug._request_types",
    "chatplug._stream_types",
    "chatplug._precompiled_stream",
    "chatplug._precompiled_request",
    "chatplug.params",
    "chatplug.config",
    "chatplug._adjustment",
    "chatplug._plugin_failure",
    "chatplug.events",
    "cattrs",
]
#: Of those, what a stream call loads.
STREAM_MODULES = ["chatplug._streaming", "chatplug._accumulate", "chatplug._sse", "chatplug._stream_types",
                  "chatplug._precompiled_stream"]


def test_a_plain_first_completion_loads_only_what_it_needs_and_a_stream_loads_the_rest(
    server: FakeServer, tmp_path: Path
) -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "streamed"}, "finish_reason": "stop"}]}
    server.add(Reply.json(completion_body("whole")), Reply.sse([chunk]))
    result = run_python(f"""
        import json, sys
        import chatplug
        watched = {NOT_ON_THE_PLAIN_PATH!r}
        client = chatplug.Client(base_url={server.base_url!r})
        whole = client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}])
        plain = [name for name in watched if name in sys.modules]
        with client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}],
                                            stream=True) as stream:
            streamed = stream.get_final_completion()
        print(json.dumps({{"replies": [whole.choices[0].message.content, streamed.choices[0].message.content],
                           "plain": plain, "after_stream": [name for name in watched if name in sys.modules]}}))
    """, CHATPLUG_DISABLE_PLUGINS="otel",  # an observer plugin makes every call build its RequestEvent
        XDG_CONFIG_HOME=str(tmp_path))  # no providers file
    assert result["replies"] == ["whole", "streamed"]
    assert result["plain"] == []
    assert result["after_stream"] == STREAM_MODULES


def test_the_request_and_stream_classes_are_made_on_first_access_and_belong_to_chatplug_types() -> None:
    result = run_python("""
        import json, pickle, sys, typing
        import chatplug, chatplug.types as t
        sides = ["chatplug._request_types", "chatplug._stream_types"]
        def loaded():
            return [name for name in sides if name in sys.modules]
        t.ChatCompletion, t.Usage, t.AssistantMessage
        listed = "UserMessage" in dir(t) and "ChatCompletionChunk" in dir(t)
        steps = {"reply side": loaded()}
        from chatplug.types import UserMessage
        steps["request side"] = loaded()
        chatplug.ChatCompletionChunk
        steps["stream side"] = loaded()
        namespace = {}
        exec("from chatplug.types import *", namespace)
        message = UserMessage(content=[t.TextPart(text="hi"), t.ImageURLPart(image_url=t.ImageURL(url="u"))])
        chunk = chatplug.from_dict({"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}}]},
                                   t.ChatCompletionChunk)
        wire = {"model": "m", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [
            {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "u"}}, {"type": "audio"}]}]}
        request = chatplug.from_dict(wire, t.ChatCompletionRequest)
        parsed = [type(request.messages[0]).__name__, [type(part).__name__ for part in request.messages[1].content]]
        try:
            t.NoSuchClass
            missing = None
        except AttributeError as error:
            missing = str(error)
        print(json.dumps({
            "steps": steps, "listed": listed, "missing": missing, "parsed": parsed,
            "request_round_trip": request.to_dict() == wire,
            "star": sorted(set(t.__all__) - set(namespace)),
            "homes": sorted({getattr(t, name).__module__ for name in t.__all__ if isinstance(getattr(t, name), type)}),
            "same": all(getattr(chatplug, name) is getattr(t, name) for name in t.__all__ if name in chatplug.__all__),
            "sides": [list(t._REQUEST_SIDE) == sys.modules[sides[0]].__all__,
                      list(t._STREAM_SIDE) == sys.modules[sides[1]].__all__],
            "repr": repr(message), "pickled": [pickle.loads(pickle.dumps(obj)) == obj for obj in (message, chunk)],
            "private_names_pickled": [b"chatplug._" in pickle.dumps(obj) for obj in (message, chunk)],
            "hints": typing.get_type_hints(t.ChatCompletionRequest)["messages"] == list[t.Message],
            "params": str(typing.get_type_hints(chatplug.params.CreateParams)["tools"]),
        }))
    """)
    assert result["steps"] == {"reply side": [], "request side": ["chatplug._request_types"],
                               "stream side": ["chatplug._request_types", "chatplug._stream_types"]}
    assert result["listed"] is True
    assert result["parsed"] == ["SystemMessage", ["TextPart", "ImageURLPart", "dict"]]
    assert result["request_round_trip"] is True
    assert result["missing"] == "module 'chatplug.types' has no attribute 'NoSuchClass'"
    assert result["star"] == []
    assert result["homes"] == ["chatplug.types"]
    assert result["same"] is True and result["sides"] == [True, True]
    assert result["repr"] == ("UserMessage(content=[TextPart(text='hi', type='text'), ImageURLPart("
                              "image_url=ImageURL(url='u', detail=None), type='image_url')], role='user', name=None)")
    assert result["pickled"] == [True, True]
    assert result["private_names_pickled"] == [False, False]
    assert result["hints"] is True
    assert result["params"] == (
        "collections.abc.Sequence[chatplug.types.Tool | collections.abc.Mapping[str, typing.Any]] | None"
    )


def test_adjustment_is_made_on_first_access_and_belongs_to_chatplug_events() -> None:
    result = run_python("""
        import json, pickle, sys
        import chatplug, chatplug.events as events
        events.RequestEvent
        before = "chatplug._adjustment" in sys.modules
        from chatplug.events import Adjustment
        record = Adjustment("renamed", "max_completion_tokens", "why", 5, to="max_tokens")
        print(json.dumps({"before": before, "after": "chatplug._adjustment" in sys.modules,
                          "home": Adjustment.__module__, "same": chatplug.Adjustment is Adjustment,
                          "listed": "Adjustment" in dir(events), "repr": repr(record),
                          "pickled": pickle.loads(pickle.dumps(record)) == record,
                          "private_name_pickled": b"_adjustment" in pickle.dumps(record)}))
    """)
    assert result == {"before": False, "after": True, "home": "chatplug.events", "same": True, "listed": True,
                      "repr": "Adjustment(action='renamed', param='max_completion_tokens', reason='why', "
                              "to='max_tokens')",
                      "pickled": True, "private_name_pickled": False}


def test_nested_structuring_functions_are_made_when_first_met() -> None:
    result = run_python("""
        import json
        import chatplug
        from chatplug import _convert, types as t
        def made():
            return sorted(tp.__name__ for tp in _convert._HOOKS if _convert._is_wire_class(tp))
        plain = {"id": "c1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
        chatplug.from_dict(plain, t.ChatCompletion)
        first = made()
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        tools = {"id": "c2", "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [call]}}]}
        parsed = [chatplug.from_dict(tools, t.ChatCompletion) for _ in range(2)]
        message_hook = _convert.structure_hook(t.ChatCompletionMessage)
        print(json.dumps({"first": first, "then": made(),
                          "calls": [p.choices[0].message.tool_calls[0].to_dict() for p in parsed],
                          "in_place": message_hook.__globals__["_s_tool_calls"]
                          is _convert.structure_hook(t.ChatCompletionMessageToolCall)}))
    """)
    assert result["first"] == ["ChatCompletion", "ChatCompletionMessage", "Choice"]
    assert result["then"] == ["ChatCompletion", "ChatCompletionMessage", "ChatCompletionMessageToolCall", "Choice",
                              "Function"]
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert result["calls"] == [call, call]
    assert result["in_place"] is True


def test_the_public_converter_is_built_on_first_access_and_then_honoured() -> None:
    result = run_python("""
        import json, sys
        import chatplug
        from chatplug.types import ChatCompletion, Usage
        data = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "x_extra": 7,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
        parsed = chatplug.from_dict(data, ChatCompletion)
        before = "cattrs" in sys.modules
        converter = chatplug.converter
        same = converter.structure(data, ChatCompletion) == parsed
        round_trip = converter.unstructure(parsed) == data
        # A hook a third party registers on the converter is used by from_dict from then on.
        converter.register_structure_hook(Usage, lambda value, _: Usage(prompt_tokens=0, completion_tokens=0,
                                                                        total_tokens=value["total_tokens"] * 100))
        hooked = chatplug.from_dict({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, Usage)
        try:
            chatplug.from_dict({"id": 5}, ChatCompletion)
            refused = None
        except chatplug.APIResponseValidationError as error:
            refused = str(error)
        print(json.dumps({"before": before, "after": "cattrs" in sys.modules, "same": same,
                          "round_trip": round_trip, "hooked": hooked.total_tokens,
                          "same_object": converter is chatplug.converter, "refused": refused}))
    """)
    assert result["before"] is False and result["after"] is True
    assert result["same"] and result["round_trip"] and result["same_object"]
    assert result["hooked"] == 300
    assert result["refused"].startswith("malformed ChatCompletion data: ChatCompletion.id: expected str, got int")


# ------------------------------------------------------------ entry points


@pytest.mark.parametrize("group", ["chatplug", "console_scripts", "pytest11"])
def test_entry_point_scan_agrees_with_importlib_metadata(group: str) -> None:
    scanned = _entrypoints._scan(group)
    assert scanned == _entrypoints._from_importlib(group)
    assert _entrypoints.entry_points(group) == scanned  # this environment takes the fast path


def _dist(site: Path, dist: str, version: str, lines: Iterable[str], group: str = "chatplug") -> None:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\nbody: x\n")
    (info / "entry_points.txt").write_text(f"[other]\nnope = nowhere\n\n[{group}]\n" + "\n".join(lines) + "\n")


def test_first_distribution_on_sys_path_shadows_later_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dist(tmp_path / "first", "cp-shadow-test", "2.0", ["shadowed = cp_new_module"])
    _dist(tmp_path / "second", "CP_Shadow.Test", "1.0", ["shadowed = cp_old_module", "extra = cp_old_extra"])
    monkeypatch.syspath_prepend(str(tmp_path / "second"))
    monkeypatch.syspath_prepend(str(tmp_path / "first"))
    found = [ep for ep in _entrypoints.entry_points("chatplug") if ep.dist_name and "shadow" in ep.dist_name.lower()]
    assert found == [_entrypoints.EntryPoint("shadowed", "cp_new_module", "cp-shadow-test", "2.0")]
    assert found == [ep for ep in _entrypoints._from_importlib("chatplug") if ep.name == "shadowed"]


def test_the_standard_library_folders_are_not_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stdlib = tmp_path / "lib" / "python3"
    _dist(stdlib, "cp-in-stdlib", "1.0", ["in_stdlib = cp_nowhere"])
    _dist(stdlib / "lib-dynload", "cp-in-dynload", "1.0", ["in_dynload = cp_nowhere"])
    _dist(tmp_path / "site", "cp-in-site", "1.0", ["in_site = cp_somewhere"])
    for folder in (tmp_path / "site", stdlib / "lib-dynload", stdlib):
        monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(os, "__file__", str(stdlib / "os.py"))
    assert _entrypoints._stdlib_folders() == {str(stdlib), str(stdlib / "lib-dynload")}
    found = [(ep.name, ep.dist_name) for ep in _entrypoints._scan("chatplug") if ep.name.startswith("in_")]
    assert found == [("in_site", "cp-in-site")]
    monkeypatch.delattr(os, "__file__")  # an embedded interpreter: nothing is skipped
    names = [ep.name for ep in _entrypoints._scan("chatplug") if ep.name.startswith("in_")]
    assert names == ["in_stdlib", "in_dynload", "in_site"]


def test_entry_points_compare_and_print_by_their_four_fields() -> None:
    entry = _entrypoints.EntryPoint("glm", "chatplug_glm:plugin", "chatplug-glm", "0.2.0")
    assert entry == _entrypoints.EntryPoint("glm", "chatplug_glm:plugin", "chatplug-glm", "0.2.0")
    assert hash(entry) == hash(_entrypoints.EntryPoint("glm", "chatplug_glm:plugin", "chatplug-glm", "0.2.0"))
    for other in (("kimi", "chatplug_glm:plugin", "chatplug-glm", "0.2.0"), ("glm", "x:y", "chatplug-glm", "0.2.0"),
                  ("glm", "chatplug_glm:plugin", None, "0.2.0"), ("glm", "chatplug_glm:plugin", "chatplug-glm", "1")):
        assert entry != _entrypoints.EntryPoint(*other)
    assert entry != ("glm", "chatplug_glm:plugin", "chatplug-glm", "0.2.0")
    assert repr(entry) == ("EntryPoint(name='glm', value='chatplug_glm:plugin', dist_name='chatplug-glm', "
                           "dist_version='0.2.0')")
    with pytest.raises(AttributeError):
        entry.extra = 1  # type: ignore[attr-defined]


def test_a_zip_on_sys_path_falls_back_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("cp_zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: cp-zipped\nVersion: 1.0\n")
        zipped.writestr("cp_zipped-1.0.dist-info/entry_points.txt", "[chatplug]\nzipped = cp_zipped_module\n")
    monkeypatch.syspath_prepend(str(archive))
    found = [ep for ep in _entrypoints.entry_points("chatplug") if ep.name == "zipped"]
    assert found == [_entrypoints.EntryPoint("zipped", "cp_zipped_module", "cp-zipped", "1.0")]


def test_a_finder_that_supplies_distributions_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    class Finder:
        def find_spec(self, *args: object) -> None:
            return None

        def find_distributions(self, *args: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])
    used: list[str] = []

    def from_importlib(group: str) -> list[_entrypoints.EntryPoint]:
        used.append(group)
        return []

    monkeypatch.setattr(_entrypoints, "_from_importlib", from_importlib)
    assert _entrypoints.entry_points("chatplug") == []
    assert used == ["chatplug"]


def test_entry_point_values_load_like_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cp_load_target.py").write_text("class Outer:\n    class Inner:\n        value = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cp_load_target", raising=False)
    assert _entrypoints.EntryPoint("a", "cp_load_target:Outer.Inner [extra]", None, None).load().value == 42
    assert _entrypoints.EntryPoint("b", "cp_load_target", None, None).load().__name__ == "cp_load_target"
    with pytest.raises(ValueError, match="malformed value"):
        _entrypoints.EntryPoint("c", "not a module!", None, None).load()


@pytest.mark.parametrize(
    "value",
    ["pkg", "pkg.mod", "pkg.mod:obj", "pkg.mod : obj.attr", "pkg:obj [extra1, extra2]", "pkg [extra]",
     "pkg:", "pkg:obj [extra", "not a module!", ":obj", "pkg:obj junk", ""],
)
def test_entry_point_values_parse_as_importlib_metadata_reads_them(value: str) -> None:
    from importlib.metadata import EntryPoint

    match = EntryPoint.pattern.match(value)
    expected = None if match is None else (match["module"], match["attr"] or "")
    assert _entrypoints._parse_value(value) == expected


def test_entry_point_values_that_name_no_importable_module_are_malformed() -> None:
    # importlib.metadata's pattern takes any run of word characters and dots; none of these imports
    assert [_entrypoints._parse_value(value) for value in ("pkg..mod", "1pkg", "pkg:obj.", "pkg.")] == [None] * 4


# ---------------------------------------------------------- lazy exports


def _type_checking_imports() -> dict[str, str]:
    """name -> module of the imports under ``if TYPE_CHECKING:`` in chatplug/__init__.py."""
    tree = ast.parse((CORE_SRC / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.name: node.module or "" for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


def test_every_export_is_declared_in_the_three_places_and_resolves() -> None:
    """Adding an export means three lines (see the top of chatplug/__init__.py); this finds a missing one."""
    locations: dict[str, str] = chatplug._LOCATIONS
    assert _type_checking_imports() == locations
    assert set(chatplug.__all__) == {"__version__", *locations}
    assert len(chatplug.__all__) == len(set(chatplug.__all__))
    for name, module in locations.items():
        assert getattr(chatplug, name) is getattr(sys.modules[module], name), name


def test_import_chatplug_loads_only_the_package_itself() -> None:
    loaded = run_python("""
        import json, sys
        before = set(sys.modules)
        import chatplug
        print(json.dumps(sorted(name for name in set(sys.modules) - before if name.startswith(("chatplug", "attr",
              "cattrs", "httpx", "pluggy")))))
    """)
    assert loaded == ["chatplug"]


def test_the_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert chatplug.__version__ == version("chatplug")
