"""The keyword arguments of ``chat.completions.create()``, as one typed dict.

The signatures of ``create()`` are typed through it (``**kwargs:
Unpack[CreateParams]``), so a type checker catches ``temperature="hot"`` or a
misspelt parameter, and the client derives the set of parameters it knows from
it: one list, not four.
"""

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import httpx

from chatplug import types as t  # the module: naming its request-side classes here would create them

__all__ = ["CreateParams", "REQUEST_PARAMETERS", "CALL_OPTIONS"]


# Annotations are evaluated (no ``from __future__ import annotations``): a TypedDict
# turns each string annotation into a ForwardRef, which compiles it, and every call
# imports this module. Only the three naming request-side classes stay strings, so
# that importing this module does not create those classes.
class CreateParams(TypedDict, total=False):
    """OpenAI's chat-completions parameters, plus chatplug's per-call options.

    Every key is optional; ``None`` means "not sent". Provider parameters the
    contract does not name go in ``extra_body`` (GLM's ``thinking``, say).
    """

    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    max_completion_tokens: int | None
    stop: str | Sequence[str] | None
    n: int | None
    seed: int | None
    user: str | None
    stream_options: "t.StreamOptions | Mapping[str, Any] | None"
    tools: "Sequence[t.Tool | Mapping[str, Any]] | None"
    tool_choice: str | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    response_format: "t.ResponseFormat | Mapping[str, Any] | None"
    frequency_penalty: float | None
    presence_penalty: float | None
    logprobs: bool | None
    top_logprobs: int | None
    logit_bias: Mapping[str, float] | None
    reasoning_effort: str | None
    # chatplug's per-call options (not part of the JSON body)
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, Any] | None
    extra_body: Mapping[str, Any] | None
    timeout: float | httpx.Timeout | None
    #: Drop, for this call, parameters the model refuses instead of raising (see ``Client(drop_unsupported_params=)``).
    drop_unsupported_params: bool | None


#: The per-call options: everything in :class:`CreateParams` that is not a body parameter.
CALL_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout", "drop_unsupported_params"})
#: The body parameters ``create()`` accepts by name.
REQUEST_PARAMETERS = frozenset(CreateParams.__optional_keys__) - CALL_OPTIONS
