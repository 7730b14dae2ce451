"""Assembling a whole ChatCompletion from stream chunks.

Tool-call fragments merge by ``index``. A fragment without an index continues
the last call unless it brings a new id; a fragment whose index is taken by a
call with a different id starts a new call; a whole call in one chunk is just a
fragment with everything in it. Usage is taken from whichever chunk carries
it (the last one wins, so a usage report that arrives twice is not counted
twice). A ``finish_reason`` of ``""`` means "not finished": it is turned into
``None`` on the chunk and never overwrites a finish reason already seen.
"""

from __future__ import annotations

from typing import Any

from chatplug.types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Choice,
    ChoiceDeltaToolCall,
    Function,
    Usage,
)

__all__ = ["ChunkAccumulator"]


class _ToolCallState:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self) -> None:
        self.id = ""
        self.type = "function"
        self.name = ""
        self.arguments: list[str] = []


class _ChoiceState:
    __slots__ = (
        "by_wire_index",
        "content",
        "finish_reason",
        "index",
        "logprobs",
        "native_finish_reason",
        "reasoning",
        "refusal",
        "role",
        "tool_calls",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: list[_ToolCallState] = []
        #: The call each wire ``index`` currently designates (a repeated index may move on to a new call).
        self.by_wire_index: dict[int, _ToolCallState] = {}
        self.finish_reason: str | None = None
        self.native_finish_reason: str | None = None
        self.logprobs: list[Any] = []

    def merge_tool_call(self, delta: ChoiceDeltaToolCall) -> None:
        target: _ToolCallState | None = None
        if delta.index is not None:
            target = self.by_wire_index.get(delta.index)
            if target is not None and delta.id and target.id and delta.id != target.id:
                target = None  # the index was repeated for a different call
        elif delta.id:
            target = next((call for call in self.tool_calls if call.id == delta.id), None)
        elif self.tool_calls:
            target = self.tool_calls[-1]
        if target is None:
            target = _ToolCallState()
            self.tool_calls.append(target)
        if delta.index is not None:
            self.by_wire_index[delta.index] = target
        if delta.id and not target.id:
            target.id = delta.id
        if delta.type:
            target.type = delta.type
        function = delta.function
        if function is not None:
            if function.name and not target.name:
                target.name = function.name
            if function.arguments:
                target.arguments.append(function.arguments)


class ChunkAccumulator:
    """Feed it every chunk of a stream; :meth:`completion` builds the result."""

    __slots__ = ("_choices", "chunks", "created", "id", "model", "service_tier", "system_fingerprint", "usage")

    def __init__(self) -> None:
        self.id = ""
        self.created = 0
        self.model = ""
        self.system_fingerprint: str | None = None
        self.service_tier: str | None = None
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceState] = {}
        #: Number of chunks added.
        self.chunks = 0

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Merge one canonical chunk."""
        self.chunks += 1
        if not self.id or not self.model:
            self._take_identity(chunk)  # usually the first chunk only: the rest repeat it
        if chunk.usage is not None:
            self.usage = chunk.usage
        choices = self._choices
        for choice in chunk.choices:
            state = choices.get(choice.index)
            if state is None:
                state = choices[choice.index] = _ChoiceState(choice.index)
            delta = choice.delta
            if delta.role:
                state.role = delta.role
            if delta.content:
                state.content.append(delta.content)
            if delta.reasoning_content:
                state.reasoning.append(delta.reasoning_content)
            if delta.tool_calls:
                for call in delta.tool_calls:
                    state.merge_tool_call(call)
            if delta.refusal:
                state.refusal.append(delta.refusal)
            if choice.finish_reason is not None:
                if choice.finish_reason:
                    state.finish_reason = choice.finish_reason
                    state.native_finish_reason = choice.native_finish_reason
                else:  # "" means "not finished" (some servers send it on every middle chunk)
                    choice.finish_reason = None
            if choice.logprobs is not None:
                state.logprobs.append(choice.logprobs)

    def _take_identity(self, chunk: ChatCompletionChunk) -> None:
        self.id = self.id or chunk.id
        self.created = self.created or chunk.created
        self.model = self.model or chunk.model
        self.system_fingerprint = self.system_fingerprint or chunk.system_fingerprint
        self.service_tier = self.service_tier or chunk.service_tier

    @property
    def finished(self) -> bool:
        """Whether every choice seen so far has a finish_reason (and there was one)."""
        return bool(self._choices) and all(s.finish_reason is not None for s in self._choices.values())

    def completion(self) -> ChatCompletion:
        """The completion assembled from the chunks so far."""
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            tool_calls = [
                ChatCompletionMessageToolCall(
                    id=call.id, type=call.type, function=Function(name=call.name, arguments="".join(call.arguments))
                )
                for call in state.tool_calls
            ]
            message = ChatCompletionMessage(
                role=state.role,
                content="".join(state.content) if state.content else None,
                reasoning_content="".join(state.reasoning) if state.reasoning else None,
                tool_calls=tool_calls or None,
                refusal="".join(state.refusal) if state.refusal else None,
            )
            logprobs = _merge_logprobs(state.logprobs)
            choices.append(
                Choice(
                    index=index,
                    message=message,
                    finish_reason=state.finish_reason,
                    native_finish_reason=state.native_finish_reason,
                    logprobs=logprobs,
                )
            )
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=choices,
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
            service_tier=self.service_tier,
        )


def _merge_logprobs(parts: list[Any]) -> Any:
    """Join the per-chunk ``logprobs`` (``content`` and ``refusal`` token lists)."""
    merged: dict[str, list[Any]] = {}
    for part in parts:
        if isinstance(part, dict):
            for key in ("content", "refusal"):
                if isinstance(part.get(key), list):
                    merged.setdefault(key, []).extend(part[key])
    return merged or None
