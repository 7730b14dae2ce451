"""The stream side of the contract: ``ChatCompletionChunk`` and its parts.

Part of :mod:`chatplug.types`, which imports this module on first access to
one of these names: import them from ``chatplug.types`` (their ``__module__``
says so). A process that makes no stream call never creates these classes.
"""

from typing import Any

import attr

from chatplug.types import _STREAM_SIDE, Usage, WireObject, _emit_null, _publish, _raw_field

__all__ = list(_STREAM_SIDE)  # the one list: chatplug.types must know these names before importing this module


@attr.define(kw_only=True, eq=False, repr=False)
class ChoiceDeltaToolCallFunction(WireObject):
    """A fragment of a streamed function call: its name and/or an arguments piece."""

    name: str | None = None
    arguments: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChoiceDeltaToolCall(WireObject):
    """A fragment of a streamed tool call. ``index`` may be absent on some providers."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChoiceDelta(WireObject):
    """What one stream chunk adds to a choice."""

    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    refusal: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChunkChoice(WireObject):
    """One choice of a stream chunk; ``finish_reason`` is set on its last chunk."""

    index: int = 0
    delta: ChoiceDelta = attr.field(factory=ChoiceDelta)
    finish_reason: str | None = _emit_null()
    native_finish_reason: str | None = None
    logprobs: Any = None
    _raw: dict[str, Any] | None = _raw_field()


@attr.define(kw_only=True, eq=False, repr=False)
class ChatCompletionChunk(WireObject):
    """One chunk of a streamed completion (``object: "chat.completion.chunk"``).

    ``usage`` is set on the chunk that carries it, wherever the provider put it.
    """

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = attr.field(factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    _raw: dict[str, Any] | None = _raw_field()


_publish(globals())
