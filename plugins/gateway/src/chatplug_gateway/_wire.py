"""OpenAI wire JSON in and out: a request body as ``create()`` arguments, and
chatplug's canonical completions and chunks as what OpenAI's API sends.

Nothing here checks a request: ``chatplug.AsyncClient.create`` does that, the
same way for the gateway as for the library (an invalid request raises
:class:`chatplug.InvalidRequestError` before any upstream call).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import chatplug
from chatplug.params import REQUEST_PARAMETERS

from chatplug_gateway._errors import GatewayError

__all__ = ["CallRequest", "ChunkWire", "completion_wire", "parse_request", "sse"]


@attrs.frozen
class CallRequest:
    """A chat-completions request body split into what ``create()`` takes."""

    model: str
    messages: Any
    stream: bool
    params: dict[str, Any]
    extra_body: dict[str, Any]
    include_usage: bool


def _bad(message: str, param: str | None = None, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, type="invalid_request_error", code=code, param=param,
                        metric="InvalidRequestError")


def parse_request(raw: bytes) -> tuple[CallRequest, dict[str, Any]]:
    """The body as a :class:`CallRequest` (and the parsed JSON); 400 for what is not JSON or lacks a field.

    Body fields chatplug names go to ``create()`` by name; any other field
    (a provider parameter such as GLM's ``thinking``) goes in ``extra_body``,
    as openai-python's ``extra_body=`` would have merged it.
    """
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required: a model name such as 'glm/glm-4.6' (GET /v1/models lists them)", "model")
    if "messages" not in body:
        raise _bad("'messages' is required: a list of messages", "messages")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad(f"'stream' must be true or false, got {stream!r}", "stream")
    params: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("model", "messages", "stream"):
            continue
        if key in REQUEST_PARAMETERS:
            params[key] = value
        else:
            extra[key] = value
    options = body.get("stream_options")
    include_usage = bool(stream and isinstance(options, dict) and options.get("include_usage") is True)
    call = CallRequest(model=model, messages=body["messages"], stream=stream, params=params, extra_body=extra,
                       include_usage=include_usage)
    return call, body


def _ensure_envelope(data: dict[str, Any], object_name: str, fallback_id: str, model: str) -> dict[str, Any]:
    """OpenAI's fields a provider may leave out (GLM stream chunks lack ``object``)."""
    data["id"] = data.get("id") or fallback_id
    data["object"] = object_name
    if not data.get("created"):
        data["created"] = int(time.time())
    if not data.get("model"):
        data["model"] = model
    return data


def completion_wire(completion: chatplug.ChatCompletion, model: str) -> dict[str, Any]:
    """A non-stream completion as OpenAI's ``chat.completion`` object."""
    data = completion.to_dict()
    for choice in data.get("choices") or ():
        if isinstance(choice, dict):
            choice.pop("usage", None)  # a provider's usage inside a choice: it is at the top level already
    return _ensure_envelope(data, "chat.completion", f"chatcmpl-{uuid.uuid4().hex}", model)


class _ToolCalls:
    """Gives each streamed tool-call fragment the index of the call it belongs to.

    The same merge rule as chatplug's own stream assembly: an ``index``
    designates a call unless it brings a different id; a fragment without an
    index continues the call with its id, else the last call; anything else
    starts a new call. OpenAI clients merge by index, so every fragment sent
    carries one, counted from 0 in the order calls started.
    """

    __slots__ = ("by_wire_index", "ids", "last")

    def __init__(self) -> None:
        self.by_wire_index: dict[int, tuple[int, str]] = {}
        self.ids: dict[str, int] = {}
        self.last = -1

    def index(self, wire_index: int | None, call_id: str | None) -> int:
        target: int | None = None
        if wire_index is not None:
            known = self.by_wire_index.get(wire_index)
            if known is not None and not (call_id and known[1] and call_id != known[1]):
                target = known[0]
        elif call_id:
            target = self.ids.get(call_id)
        elif self.last >= 0:
            target = self.last
        if target is None:
            self.last += 1
            target = self.last
        if wire_index is not None:
            previous = self.by_wire_index.get(wire_index)
            self.by_wire_index[wire_index] = (target, call_id or (previous[1] if previous else ""))
        if call_id:
            self.ids[call_id] = target
        return target


class ChunkWire:
    """Turns the canonical chunks of one stream into OpenAI ``chat.completion.chunk`` JSON.

    - tool-call fragments get indexes (see :class:`_ToolCalls`);
    - usage, wherever the provider put it, is held back and sent in a final
      chunk with ``choices: []`` when the client asked for it with
      ``stream_options.include_usage`` (and every other chunk then carries
      ``"usage": null``, as OpenAI's do); without it, no usage is sent;
    - ``reasoning_content`` and every field OpenAI does not name are kept.
    """

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage: dict[str, Any] | None = None
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = 0
        self.served_model = ""
        self.chunks = 0
        self._calls: dict[int, _ToolCalls] = {}

    def convert(self, chunk: chatplug.ChatCompletionChunk) -> dict[str, Any] | None:
        """The wire JSON for ``chunk``; ``None`` for a chunk that only carried usage."""
        data = chunk.to_dict()
        usage = data.pop("usage", None)
        if chunk.usage is not None:
            self.usage = chunk.usage.to_dict()
        elif isinstance(usage, dict):
            self.usage = usage
        choices = data.get("choices") or []
        for wire_choice, choice in zip(choices, chunk.choices, strict=False):
            if not isinstance(wire_choice, dict):
                continue
            in_choice = wire_choice.pop("usage", None)  # a provider's place for it (Kimi)
            if chunk.usage is None and isinstance(in_choice, dict):
                self.usage = in_choice
            delta = wire_choice.get("delta")
            calls = choice.delta.tool_calls if choice.delta is not None else None
            if not calls or not isinstance(delta, dict) or not isinstance(delta.get("tool_calls"), list):
                continue
            indexer = self._calls.setdefault(choice.index, _ToolCalls())
            for wire_call, call in zip(delta["tool_calls"], calls, strict=False):
                if isinstance(wire_call, dict):
                    wire_call["index"] = indexer.index(call.index, call.id)
        if not choices and usage is not None:
            return None
        _ensure_envelope(data, "chat.completion.chunk", self.id, self.model)
        if not self.chunks:
            self.id, self.created, self.served_model = data["id"], data["created"], data["model"]
        self.chunks += 1
        if self.include_usage:
            data["usage"] = None
        return data

    def final(self) -> dict[str, Any] | None:
        """The usage chunk to send before ``[DONE]``, when the client asked for usage and there is some."""
        if not self.include_usage or self.usage is None:
            return None
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created or int(time.time()),
            "model": self.served_model or self.model,
            "choices": [],
            "usage": self.usage,
        }


def sse(data: Mapping[str, Any], event: str | None = None) -> bytes:
    """One server-sent event carrying ``data`` as JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


#: The end of a successful stream.
DONE = b"data: [DONE]\n\n"
