"""The contract's structuring functions come precompiled, and only ever as generated now.

``chatplug._convert`` generates each contract class's structuring function
from its fields; ``core/tools/generate_structurers.py`` writes the functions
of the contract's own classes out as modules, so a fresh process loads them
from the bytecode cache instead of compiling them. These tests hold the
written modules to what the generator writes today, check that every contract
class takes its precompiled function, and that anything else (a stale entry,
a plugin's subclass, a look-alike class) is compiled as before, with the same
result.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attr
import chatplug
import pytest
from chatplug import _convert
from chatplug import types as t

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "core" / "tools" / "generate_structurers.py"
#: The folder of the chatplug under test (installed, editable or staged for mutation testing).
PACKAGE = Path(chatplug.__file__).parent

#: Every contract class with a structuring function, by the precompiled module that holds it.
EXPECTED = {
    "chatplug._precompiled_reply": [
        "ChatCompletion", "ChatCompletionMessage", "ChatCompletionMessageToolCall", "Choice",
        "CompletionTokensDetails", "Function", "PromptTokensDetails", "Usage",
    ],
    "chatplug._precompiled_stream": [
        "ChatCompletionChunk", "ChoiceDelta", "ChoiceDeltaToolCall", "ChoiceDeltaToolCallFunction", "ChunkChoice",
    ],
    "chatplug._precompiled_request": [
        "ChatCompletionRequest", "DeveloperMessage", "FunctionDefinition", "ImageURL", "ImageURLPart",
        "ResponseFormat", "StreamOptions", "SystemMessage", "TextPart", "Tool", "ToolMessage", "UserMessage",
    ],
}

COMPLETION = {
    "id": "c1", "object": "chat.completion", "created": 7, "model": "glm-4.6", "x_extra": [1],
    "choices": [{"index": 0, "finish_reason": "tool_calls",
                 "message": {"role": "assistant", "content": None, "reasoning_content": "think",
                             "tool_calls": [{"id": "call_1", "type": "function",
                                             "function": {"name": "f", "arguments": "{}"}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}},
}


def _compiled(cls: type) -> Any:
    """``cls``'s structuring function compiled from the source generated now (the fallback path)."""
    source, env = _convert.structure_source(cls)
    exec(compile(source, f"<test {cls.__name__}>", "exec"), env)
    return env["structure"]


def _generator() -> Any:
    """The generator script, loaded as a module (in this process: it sees the chatplug under test)."""
    spec = importlib.util.spec_from_file_location("generate_structurers", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_precompiled_modules_are_what_the_generator_writes_now() -> None:
    generator = _generator()
    for home, classes in generator.contract_classes().items():
        module = _convert.PRECOMPILED_MODULES[home]
        written = generator.target(PACKAGE, module).read_text(encoding="utf-8")
        stale = f"{module} is stale: run python {GENERATOR.relative_to(REPO)}"
        assert written == generator.render(home, classes), stale


def test_the_generator_reports_a_stale_module_and_writes_it_back(tmp_path: Path) -> None:
    generator = _generator()
    for module in EXPECTED:
        generator.target(tmp_path, module).write_text(generator.target(PACKAGE, module).read_text(encoding="utf-8"),
                                                      encoding="utf-8")
    stale = tmp_path / "_precompiled_stream.py"
    stale.write_text(stale.read_text().replace("ChunkChoice", "ChunkChoize"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}  # the chatplug under test, wherever it is
        return subprocess.run([sys.executable, str(GENERATOR), "--package", str(tmp_path), *args],
                              capture_output=True, text=True, cwd=tmp_path, env=environ, timeout=120, check=False)

    check = run("--check")
    assert check.returncode == 1
    assert check.stderr == f"{stale} is stale: run python core/tools/generate_structurers.py\n"
    assert "ChunkChoize" in stale.read_text()  # --check writes nothing
    assert run().returncode == 0
    assert stale.read_text() == (PACKAGE / "_precompiled_stream.py").read_text()
    assert run("--check").returncode == 0


@pytest.mark.parametrize(("module", "name"), [(module, name) for module, names in EXPECTED.items() for name in names])
def test_every_contract_class_takes_its_precompiled_function(module: str, name: str) -> None:
    cls = getattr(t, name)
    hook = _convert._make_structure_hook(cls)
    precompiled = importlib.import_module(module)
    assert hook.__code__ is getattr(precompiled, f"structure_{name}").__code__
    assert hook.__name__ == "structure"
    assert hook.__defaults__ == (None,)
    assert precompiled.CHECKSUMS[name] == _convert.source_checksum(_convert.structure_source(cls)[0])


def test_the_precompiled_modules_hold_exactly_the_contract_classes() -> None:
    held = {module: sorted(importlib.import_module(module).CHECKSUMS) for module in EXPECTED}
    assert held == EXPECTED
    assert sorted(_convert.PRECOMPILED_MODULES.values()) == sorted(EXPECTED)


def test_a_precompiled_function_parses_as_its_compiled_twin_does() -> None:
    precompiled = _convert._make_structure_hook(t.ChatCompletion)
    assert precompiled.__code__.co_filename.endswith("_precompiled_reply.py")
    structures: list[Any] = [precompiled, _compiled(t.ChatCompletion)]
    for structure in structures:
        parsed = structure(COMPLETION)  # the second argument is optional, as for the compiled function
        assert parsed.to_dict() == COMPLETION
        assert parsed.choices[0].message.tool_calls[0].function.name == "f"
        assert parsed.usage.prompt_tokens_details.cached_tokens == 2
        with pytest.raises(TypeError, match=r"^ChatCompletion\.model: expected str, got int 5$"):
            structure({**COMPLETION, "model": 5}, None)
        with pytest.raises(TypeError, match=r"^expected an object for ChatCompletion, got list$"):
            structure([], None)


def test_a_stale_checksum_falls_back_to_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatplug import _precompiled_reply

    monkeypatch.setitem(_precompiled_reply.CHECKSUMS, "Usage", _precompiled_reply.CHECKSUMS["Usage"] + 1)
    hook = _convert._make_structure_hook(t.Usage)
    assert hook.__code__.co_filename == "<chatplug structure Usage>"
    assert hook({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, None).total_tokens == 3


def test_a_missing_precompiled_function_falls_back_to_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatplug import _precompiled_reply

    monkeypatch.delattr(_precompiled_reply, "structure_Function")
    hook = _convert._make_structure_hook(t.Function)
    assert hook.__code__.co_filename == "<chatplug structure Function>"
    assert hook({"name": "f", "arguments": "{}"}, None) == t.Function(name="f", arguments="{}")


def test_a_plugin_subclass_and_a_look_alike_are_compiled_not_precompiled() -> None:
    @attr.define(kw_only=True, eq=False, repr=False)
    class Usage(t.Usage):  # a plugin's subclass, same name
        cost: float | None = None

    @attr.define(kw_only=True, eq=False, repr=False)
    class LookAlike(t.WireObject):  # claims to be chatplug.types.Usage, and is not
        __module__ = "chatplug.types"
        total_tokens: int = 0
        _raw: dict[str, Any] | None = attr.field(default=None, init=False)

    LookAlike.__name__ = "Usage"
    look_alike: type = LookAlike
    assert _convert.contract_module(Usage) is None
    assert _convert.contract_module(look_alike) is None
    assert _convert.contract_module(t.Usage) == "chatplug.types"
    assert _convert.contract_module(t.ChunkChoice) == "chatplug._stream_types"
    sub = _convert._make_structure_hook(Usage)
    assert sub.__code__.co_filename == "<chatplug structure Usage>"
    parsed = sub({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost": 0.5}, None)
    assert (type(parsed), parsed.total_tokens, parsed.cost) == (Usage, 3, 0.5)
    alike: Any = _convert._make_structure_hook(look_alike)
    assert alike.__code__.co_filename == "<chatplug structure Usage>"
    assert alike({"total_tokens": 9}, None).total_tokens == 9


def test_a_subclass_with_string_annotations_is_resolved_before_its_function_is_made() -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "import attr\n"
        "from chatplug import types as t\n"
        "@attr.define(kw_only=True, eq=False, repr=False)\n"
        "class Priced(t.Usage):\n"
        "    cost: int | None = None\n"
        "    notes: list[str] | None = None\n",
        namespace,
    )
    priced = namespace["Priced"]
    assert attr.fields(priced).cost.type == "int | None"  # a string until resolved
    parsed = chatplug.from_dict({"total_tokens": 3, "cost": 2.0, "notes": ["a"]}, priced)
    assert (parsed.cost, parsed.notes) == (2, ["a"])  # 2.0 became an int: the int hook, so the type was resolved
    with pytest.raises(chatplug.APIResponseValidationError) as refused:
        chatplug.from_dict({"cost": "2"}, priced)
    assert str(refused.value) == "malformed Priced data: expected an integer, got str '2'"


def test_only_annotations_still_written_as_strings_need_resolving() -> None:
    assert _convert._needs_resolving("int")
    assert _convert._needs_resolving(list["t.Usage"])
    assert _convert._needs_resolving(dict[str, list["Any"]])
    assert not _convert._needs_resolving(int)
    assert not _convert._needs_resolving(list[t.Usage] | None)
    assert not any(_convert._needs_resolving(field.type) for field in attr.fields(t.ChatCompletion))
