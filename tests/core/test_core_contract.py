"""The contract: wire JSON -> typed object -> to_dict() gives back the same JSON
for every recorded sample; unknown fields are kept; dicts and typed objects
are both accepted as input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatplug
import pytest
from chatplug._sse import SSEDecoder
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, FIXTURES, MESSAGES, completion_body

COMPLETION_SAMPLES = sorted(p.name for p in FIXTURES.glob("*nonstream*.json"))
CHUNK_SAMPLES = ["kimi-stream-final-chunk-usage-in-choice.json"]
SSE_SAMPLES = sorted(p.name for p in FIXTURES.glob("*.sse"))


def sse_data_events(path: Path) -> list[Any]:
    """Every JSON data event of a recorded SSE transcript ([DONE] excluded)."""
    decoder = SSEDecoder()
    events = decoder.feed(path.read_bytes()) + decoder.flush()
    return [json.loads(data) for _, data in events if data != b"[DONE]"]


def test_every_fixture_keeps_its_provenance_sidecar() -> None:
    data_files = [p for p in FIXTURES.iterdir() if not p.name.endswith(".source.txt")]
    assert data_files
    for path in data_files:
        sidecar = path.with_name(path.name.rsplit(".", 1)[0] + ".source.txt")
        assert sidecar.exists(), f"{path.name} has no provenance sidecar"
        assert sidecar.read_text().startswith("Source:")


@pytest.mark.parametrize("name", COMPLETION_SAMPLES)
def test_completion_sample_round_trips(name: str) -> None:
    wire = json.loads((FIXTURES / name).read_bytes())
    completion = chatplug.from_dict(wire, chatplug.ChatCompletion)
    assert isinstance(completion, chatplug.ChatCompletion)
    assert completion.to_dict() == wire
    json.dumps(completion.to_dict())  # plain JSON, nothing typed left inside


@pytest.mark.parametrize("name", SSE_SAMPLES)
def test_every_chunk_of_every_stream_sample_round_trips(name: str) -> None:
    events = sse_data_events(FIXTURES / name)
    assert events
    for wire in events:
        chunk = chatplug.from_dict(wire, chatplug.ChatCompletionChunk)
        assert chunk.to_dict() == wire


@pytest.mark.parametrize("name", CHUNK_SAMPLES)
def test_chunk_sample_round_trips(name: str) -> None:
    wire = json.loads((FIXTURES / name).read_bytes())
    chunk = chatplug.from_dict(wire, chatplug.ChatCompletionChunk)
    assert chunk.to_dict() == wire


def test_glm_completion_fields_are_typed_and_unknown_fields_readable() -> None:
    wire = json.loads((FIXTURES / "glm-nonstream-reasoning.json").read_bytes())
    completion = chatplug.from_dict(wire, chatplug.ChatCompletion)
    message = completion.choices[0].message
    assert message.reasoning_content == wire["choices"][0]["message"]["reasoning_content"]
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == (
        wire["usage"]["completion_tokens_details"]["reasoning_tokens"]
    )
    # GLM's request_id is not in the contract: kept, readable, listed.
    assert completion.request_id == wire["request_id"]
    assert completion.model_extra["request_id"] == wire["request_id"]


def test_glm_tool_call_id_is_kept_byte_for_byte() -> None:
    wire = json.loads((FIXTURES / "glm-nonstream-tool-call.json").read_bytes())
    completion = chatplug.from_dict(wire, chatplug.ChatCompletion)
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    wire_call = wire["choices"][0]["message"]["tool_calls"][0]
    assert call.id == wire_call["id"]
    assert call.function.arguments == wire_call["function"]["arguments"]
    assert call.index == wire_call["index"]  # unknown in the contract, still readable


def test_unknown_fields_at_every_level_are_kept() -> None:
    wire = completion_body(vendor_top={"a": 1})
    wire["choices"][0]["vendor_choice"] = [1, 2]
    wire["choices"][0]["message"]["vendor_message"] = "x"
    wire["usage"]["vendor_usage"] = None
    completion = chatplug.from_dict(wire, chatplug.ChatCompletion)
    assert completion.vendor_top == {"a": 1}
    assert completion.choices[0].vendor_choice == [1, 2]
    assert completion.choices[0].message.vendor_message == "x"
    assert completion.usage is not None and completion.usage.model_extra == {"vendor_usage": None}
    assert completion.to_dict() == wire


def test_missing_attribute_still_raises_attribute_error() -> None:
    completion = chatplug.from_dict(completion_body(), chatplug.ChatCompletion)
    with pytest.raises(AttributeError):
        _ = completion.not_sent_by_anyone


def test_explicit_null_and_absent_fields_are_told_apart() -> None:
    wire = completion_body()
    wire["system_fingerprint"] = None
    completion = chatplug.from_dict(wire, chatplug.ChatCompletion)
    out = completion.to_dict()
    assert out["system_fingerprint"] is None
    assert "service_tier" not in out


def test_malformed_data_raises_validation_error_naming_the_class() -> None:
    wire = completion_body()
    wire["choices"][0]["message"]["content"] = 42
    with pytest.raises(chatplug.APIResponseValidationError, match="ChatCompletion"):
        chatplug.from_dict(wire, chatplug.ChatCompletion)


def test_object_built_in_python_writes_openai_wire_json() -> None:
    message = chatplug.ChatCompletionMessage(content=None, tool_calls=[
        chatplug.ChatCompletionMessageToolCall(id="functions.get_weather:0",
                                               function=chatplug.Function(name="get_weather", arguments="{}"))
    ])
    assert message.to_dict() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "functions.get_weather:0", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"}}],
    }


def _typed_request_inputs() -> dict[str, Any]:
    return {
        "messages": [
            chatplug.SystemMessage(content="be brief"),
            chatplug.UserMessage(content=[chatplug.TextPart(text="what is this?"),
                                          chatplug.ImageURLPart(image_url=chatplug.ImageURL(url="data:x"))]),
            chatplug.AssistantMessage(content=None, tool_calls=[chatplug.ChatCompletionMessageToolCall(
                id="functions.look:0", function=chatplug.Function(name="look", arguments='{"a":1}'))]),
            chatplug.ToolMessage(content="a cat", tool_call_id="functions.look:0"),
        ],
        "tools": [chatplug.Tool(function=chatplug.FunctionDefinition(name="look", parameters={"type": "object"}))],
        "response_format": chatplug.ResponseFormat(type="json_object"),
    }


def _dict_request_inputs() -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "functions.look:0", "type": "function", "function": {"name": "look", "arguments": '{"a":1}'}}]},
            {"role": "tool", "content": "a cat", "tool_call_id": "functions.look:0"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_object"},
    }


def test_typed_objects_and_plain_dicts_send_the_same_body(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.json(completion_body()), Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", **_typed_request_inputs())
    client.chat.completions.create(model="t-1", **_dict_request_inputs())
    typed, plain = (request.json() for request in server.requests)
    assert typed == plain
    assert plain["messages"] == _dict_request_inputs()["messages"]
    assert plain["tools"] == _dict_request_inputs()["tools"]


def test_request_class_parses_a_wire_request_with_every_role() -> None:
    wire = {"model": "t-1", **_dict_request_inputs(), "temperature": 0.2, "stop": ["x"],
            "stream": True, "stream_options": {"include_usage": True}, "vendor": {"k": 1}}
    request = chatplug.from_dict(wire, chatplug.ChatCompletionRequest)
    kinds = [type(m) for m in request.messages]
    assert kinds == [chatplug.SystemMessage, chatplug.UserMessage, chatplug.AssistantMessage, chatplug.ToolMessage]
    assert request.stream_options is not None and request.stream_options.include_usage is True
    assert request.to_dict() == wire


def test_typed_response_reply_can_be_served_and_read_back(server: FakeServer, client: chatplug.Client) -> None:
    sent = chatplug.from_dict(json.loads((FIXTURES / "glm-nonstream-tool-call.json").read_bytes()),
                              chatplug.ChatCompletion)
    server.add(Reply.json(sent))
    got = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert got.to_dict() == sent.to_dict()
    assert API_KEY not in repr(got)


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ({"role": "user", "content": "hi"}, chatplug.UserMessage),
        ({"role": "tool", "content": "18C", "tool_call_id": "functions.get_weather:0"}, chatplug.ToolMessage),
    ],
)
def test_required_fields_are_structured_and_type_checked(message: dict[str, Any], cls: type) -> None:
    request = chatplug.from_dict({"model": "t-1", "messages": [message]}, chatplug.ChatCompletionRequest)
    assert type(request.messages[0]) is cls
    broken = {**message, "content": 42}
    with pytest.raises(chatplug.APIResponseValidationError):
        chatplug.from_dict({"model": "t-1", "messages": [broken]}, chatplug.ChatCompletionRequest)
