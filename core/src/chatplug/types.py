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

The reply side, which every call needs, is defined in this module. The
request side (messages, content parts, tools, ``ChatCompletionRequest``) and
the stream side (``ChatCompletionChunk`` and its parts) are defined in
``chatplug._request_types`` and ``chatplug._stream_types`` and imported on
first access to one of their names here (PEP 562): creating a contract class
costs about 0.15 ms even with ``==`` and ``repr()`` shared (attrs still
compiles its ``__init__``), and a process that sends a plain request and reads
its reply needs none of them. Every class belongs to
``chatplug.types`` all the same: import it from here; its ``__module__`` (so
the class's repr, pickles and documentation tools) says ``chatplug.types``.

No ``from __future__ import annotations`` in the contract's modules: the field
types are real objects, so resolving them (``typing.get_type_hints``, the
structuring functions) needs no module namespace and no evaluation of strings.
"""

import importlib
from typing import TYPE_CHECKING, Any

import attr

from chatplug._attrs_methods import ValueObject

if TYPE_CHECKING:
    from chatplug._request_types import (
        ChatCompletionRequest,
        ContentPart,
        DeveloperMessage,
        FunctionDefinition,
        ImageURL,
        ImageURLPart,
        Message,
        ResponseFormat,
        StreamOptions,
        SystemMessage,
        TextPart,
        Tool,
        ToolMessage,
        UserMessage,
    )
    from chatplug._request_types import Content as Content  # public as chatplug.types.Content, not in __all__
    from chatplug._stream_types import (
        ChatCompletionChunk,
        ChoiceDelta,
        ChoiceDeltaToolCall,
        ChoiceDeltaToolCallFunction,
        ChunkChoice,
    )

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
    return attr.field(default=None, metadata={EMIT_NULL: True})


class WireObject(ValueObject):
    """Base of every contract class: wire round trip and unknown-field access.

    Its ``==`` and ``repr()`` are attrs' own, written once
    (:mod:`chatplug._attrs_methods`): the classes are built with
    ``eq=False, repr=False``, which halves the cost of creating them.
    """

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
    return attr.field(default=None, init=False, repr=False, eq=False)


# --------------------------------------------------------------- response side


@attr.define(kw_only=True, eq=False, repr=False)
class Function(WireObject):
    """The function a model called: its name and its JSON-encoded arguments."""

    name: str = ""
    arguments: str = ""
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChatCompletionMessageToolCall(WireObject):
    """A whole tool call in an assistant message. ``id`` is kept byte for byte."""

    id: str = ""
    function: Function = attr.field(factory=Function)
    type: str = "function"
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
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


@attr.define(kw_only=True, eq=False, repr=False)
class PromptTokensDetails(WireObject):
    """Breakdown of prompt tokens; ``cached_tokens`` were served from a cache."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class CompletionTokensDetails(WireObject):
    """Breakdown of completion tokens; ``reasoning_tokens`` were spent thinking."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class Usage(WireObject):
    """Token counts of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class Choice(WireObject):
    """One choice of a completion.

    ``finish_reason`` is one of OpenAI's values (``stop``, ``length``,
    ``tool_calls``, ``content_filter``); where a provider sent another value,
    that value is in ``native_finish_reason``.
    """

    index: int = 0
    message: ChatCompletionMessage = attr.field(factory=ChatCompletionMessage)
    finish_reason: str | None = _emit_null()
    native_finish_reason: str | None = None
    logprobs: Any = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChatCompletion(WireObject):
    """A whole chat completion (``object: "chat.completion"``)."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = attr.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


# ------------------------------------------------------- request and stream sides

#: The names ``chatplug._request_types`` defines: its ``__all__`` is this list.
_REQUEST_SIDE = (
    "TextPart",
    "ImageURL",
    "ImageURLPart",
    "ContentPart",
    "Content",
    "SystemMessage",
    "DeveloperMessage",
    "UserMessage",
    "ToolMessage",
    "Message",
    "FunctionDefinition",
    "Tool",
    "ResponseFormat",
    "StreamOptions",
    "ChatCompletionRequest",
)

#: The names ``chatplug._stream_types`` defines: its ``__all__`` is this list.
_STREAM_SIDE = (
    "ChoiceDeltaToolCallFunction",
    "ChoiceDeltaToolCall",
    "ChoiceDelta",
    "ChunkChoice",
    "ChatCompletionChunk",
)

_LAZY = {
    **dict.fromkeys(_REQUEST_SIDE, "chatplug._request_types"),
    **dict.fromkeys(_STREAM_SIDE, "chatplug._stream_types"),
}


def __getattr__(name: str) -> Any:
    """Import the request or the stream side on first access to one of its names (PEP 562)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(module_name)
    for defined in module.__all__:
        globals()[defined] = getattr(module, defined)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _publish(namespace: dict[str, Any]) -> None:
    """Make ``chatplug.types`` the home of the classes a private contract module defines.

    Their ``__module__`` is what reprs, pickles and documentation tools read;
    pickle finds the class again through :func:`__getattr__`.
    """
    for name in namespace["__all__"]:
        value = namespace[name]
        if isinstance(value, type):
            value.__module__ = __name__
