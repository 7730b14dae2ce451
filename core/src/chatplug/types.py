"""The chat-completions contract: requests, responses and stream chunks.

Every class is an attrs class whose attribute names are the OpenAI wire names.
Responses from a server are parsed into these classes by
:func:`chatplug.from_dict`; any class turns back into wire JSON with
``obj.to_dict()``.

Fields a server sent that the contract does not name are kept: they are
readable as attributes (``completion.request_id``), listed by
``obj.model_extra`` and written back by ``to_dict()``. A field that was absent
on the wire stays absent in ``to_dict()``; a field that was an explicit
``null`` stays ``null``.
"""

from __future__ import annotations

from typing import Any, Union

import attrs

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "AssistantMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionRequest",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
    "CompletionTokensDetails",
    "ContentPart",
    "DeveloperMessage",
    "Function",
    "FunctionDefinition",
    "ImageURL",
    "ImageURLPart",
    "Message",
    "PromptTokensDetails",
    "ResponseFormat",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "Tool",
    "ToolMessage",
    "Usage",
    "UserMessage",
]

#: Metadata flag: write this field as ``null`` in ``to_dict()`` of an object
#: built in Python (not parsed), because OpenAI's wire format always has it.
EMIT_NULL = "chatplug_emit_null"


def _emit_null() -> Any:
    return attrs.field(default=None, metadata={EMIT_NULL: True})


class WireObject:
    """Base of every contract class: wire round trip and unknown-field access."""

    __slots__ = ()
    _raw: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """Return this object as OpenAI wire JSON (a plain, ``json.dumps``-able dict)."""
        from chatplug._convert import to_dict

        return to_dict(self)

    @property
    def model_extra(self) -> dict[str, Any]:
        """The fields the server sent that this class does not name, as sent."""
        from chatplug._convert import extra_fields

        return extra_fields(self)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: serve fields the server sent
        # that the contract does not name, e.g. GLM's ``request_id``.
        if not name.startswith("_"):
            raw = object.__getattribute__(self, "_raw")
            if raw is not None and name in raw:
                return raw[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _raw_field() -> Any:
    return attrs.field(default=None, init=False, repr=False, eq=False)


# ---------------------------------------------------------------- request side


@attrs.define(kw_only=True)
class TextPart(WireObject):
    """A text content part: ``{"type": "text", "text": ...}``."""

    text: str
    type: str = "text"
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ImageURL(WireObject):
    """The ``image_url`` object of an image content part."""

    url: str
    detail: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ImageURLPart(WireObject):
    """An image content part: ``{"type": "image_url", "image_url": {"url": ...}}``."""

    image_url: ImageURL
    type: str = "image_url"
    _raw: dict[str, Any] | None = _raw_field()


#: A content part; parts of other types stay plain dicts.
ContentPart = Union[TextPart, ImageURLPart, dict[str, Any]]
#: Message content: a string, a list of parts, or absent.
Content = Union[str, list[ContentPart], None]


@attrs.define(kw_only=True)
class SystemMessage(WireObject):
    """A ``system`` message."""

    content: Content
    role: str = "system"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class DeveloperMessage(WireObject):
    """A ``developer`` message (OpenAI's newer name for system instructions)."""

    content: Content
    role: str = "developer"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class UserMessage(WireObject):
    """A ``user`` message; ``content`` may be a string or a list of content parts."""

    content: Content
    role: str = "user"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ToolMessage(WireObject):
    """A ``tool`` message answering the tool call whose id is ``tool_call_id``."""

    content: Content
    tool_call_id: str
    role: str = "tool"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class Function(WireObject):
    """The function a model called: its name and its JSON-encoded arguments."""

    name: str = ""
    arguments: str = ""
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChatCompletionMessageToolCall(WireObject):
    """A whole tool call in an assistant message. ``id`` is kept byte for byte."""

    id: str = ""
    function: Function = attrs.field(factory=Function)
    type: str = "function"
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChatCompletionMessage(WireObject):
    """An assistant message: a reply from the model, or one sent back in the history.

    ``reasoning_content`` holds the model's thinking where the provider sends it.
    """

    role: str = "assistant"
    #: The reply text. (An assistant turn written as content parts stays a plain dict in a request.)
    content: str | None = _emit_null()
    reasoning_content: str | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    refusal: str | None = None
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


#: The assistant message class, under the name used in request histories.
AssistantMessage = ChatCompletionMessage

#: Any message of a conversation; plain OpenAI-shaped dicts are accepted too.
Message = Union[
    SystemMessage,
    DeveloperMessage,
    UserMessage,
    ChatCompletionMessage,
    ToolMessage,
    dict[str, Any],
]


@attrs.define(kw_only=True)
class FunctionDefinition(WireObject):
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class Tool(WireObject):
    """A tool offered to the model. Provider tools (``builtin_function``,
    ``web_search``) keep their own fields, readable through ``model_extra``."""

    type: str = "function"
    function: FunctionDefinition | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ResponseFormat(WireObject):
    """``response_format``: ``{"type": "text" | "json_object" | "json_schema", ...}``."""

    type: str
    json_schema: dict[str, Any] | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class StreamOptions(WireObject):
    """``stream_options``: ask for a usage report at the end of a stream."""

    include_usage: bool | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChatCompletionRequest(WireObject):
    """A whole chat-completions request body, as sent on the wire."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    n: int | None = None
    seed: int | None = None
    user: str | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, Any] | None = None
    _raw: dict[str, Any] | None = _raw_field()


# --------------------------------------------------------------- response side


@attrs.define(kw_only=True)
class PromptTokensDetails(WireObject):
    """Breakdown of prompt tokens; ``cached_tokens`` were served from a cache."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class CompletionTokensDetails(WireObject):
    """Breakdown of completion tokens; ``reasoning_tokens`` were spent thinking."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class Usage(WireObject):
    """Token counts of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class Choice(WireObject):
    """One choice of a completion.

    ``finish_reason`` is one of OpenAI's values (``stop``, ``length``,
    ``tool_calls``, ``content_filter``); where a provider sent another value,
    that value is in ``native_finish_reason``.
    """

    index: int = 0
    message: ChatCompletionMessage = attrs.field(factory=ChatCompletionMessage)
    finish_reason: str | None = _emit_null()
    native_finish_reason: str | None = None
    logprobs: Any = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChatCompletion(WireObject):
    """A whole chat completion (``object: "chat.completion"``)."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = attrs.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


# ----------------------------------------------------------------- stream side


@attrs.define(kw_only=True)
class ChoiceDeltaToolCallFunction(WireObject):
    """A fragment of a streamed function call: its name and/or an arguments piece."""

    name: str | None = None
    arguments: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChoiceDeltaToolCall(WireObject):
    """A fragment of a streamed tool call. ``index`` may be absent on some providers."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChoiceDelta(WireObject):
    """What one stream chunk adds to a choice."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    refusal: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChunkChoice(WireObject):
    """One choice of a stream chunk; ``finish_reason`` is set on its last chunk."""

    index: int = 0
    delta: ChoiceDelta = attrs.field(factory=ChoiceDelta)
    finish_reason: str | None = _emit_null()
    native_finish_reason: str | None = None
    logprobs: Any = None
    _raw: dict[str, Any] | None = _raw_field()


@attrs.define(kw_only=True)
class ChatCompletionChunk(WireObject):
    """One chunk of a streamed completion (``object: "chat.completion.chunk"``).

    ``usage`` is set on the chunk that carries it, wherever the provider put it.
    """

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = attrs.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    _raw: dict[str, Any] | None = _raw_field()
