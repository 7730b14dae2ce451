"""The request side of the contract: messages, content parts, tools, and a whole request.

Part of :mod:`chatplug.types`, which imports this module on first access to
one of these names: import them from ``chatplug.types`` (their ``__module__``
says so). A process that sends plain requests and reads the replies never
creates these classes (see the docstring of :mod:`chatplug.types`).
"""

from typing import Any, Union

import attr

from chatplug.types import _REQUEST_SIDE, ChatCompletionMessage, WireObject, _publish, _raw_field

__all__ = list(_REQUEST_SIDE)  # the one list: chatplug.types must know these names before importing this module


@attr.define(kw_only=True, eq=False, repr=False)
class TextPart(WireObject):
    """A text content part: ``{"type": "text", "text": ...}``."""

    text: str
    type: str = "text"
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ImageURL(WireObject):
    """The ``image_url`` object of an image content part."""

    url: str
    detail: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ImageURLPart(WireObject):
    """An image content part: ``{"type": "image_url", "image_url": {"url": ...}}``."""

    image_url: ImageURL
    type: str = "image_url"
    _raw: dict[str, Any] | None = _raw_field()


#: A content part; parts of other types stay plain dicts.
ContentPart = Union[TextPart, ImageURLPart, dict[str, Any]]
#: Message content: a string, a list of parts, or absent.
Content = Union[str, list[ContentPart], None]


@attr.define(kw_only=True, eq=False, repr=False)
class SystemMessage(WireObject):
    """A ``system`` message."""

    content: Content
    role: str = "system"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class DeveloperMessage(WireObject):
    """A ``developer`` message (OpenAI's newer name for system instructions)."""

    content: Content
    role: str = "developer"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class UserMessage(WireObject):
    """A ``user`` message; ``content`` may be a string or a list of content parts."""

    content: Content
    role: str = "user"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ToolMessage(WireObject):
    """A ``tool`` message answering the tool call whose id is ``tool_call_id``."""

    content: Content
    tool_call_id: str
    role: str = "tool"
    name: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


#: Any message of a conversation; plain OpenAI-shaped dicts are accepted too.
Message = Union[
    SystemMessage,
    DeveloperMessage,
    UserMessage,
    ChatCompletionMessage,
    ToolMessage,
    dict[str, Any],
]


@attr.define(kw_only=True, eq=False, repr=False)
class FunctionDefinition(WireObject):
    """A function the model may call: name, description and JSON-schema parameters."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class Tool(WireObject):
    """A tool offered to the model. Provider tools (``builtin_function``,
    ``web_search``) keep their own fields, readable through ``model_extra``."""

    type: str = "function"
    function: FunctionDefinition | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ResponseFormat(WireObject):
    """``response_format``: ``{"type": "text" | "json_object" | "json_schema", ...}``."""

    type: str
    json_schema: dict[str, Any] | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class StreamOptions(WireObject):
    """``stream_options``: ask for a usage report at the end of a stream."""

    include_usage: bool | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
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


_publish(globals())
