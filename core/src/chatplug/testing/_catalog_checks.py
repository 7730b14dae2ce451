"""The conformance kit's checks of a provider's model catalog (see ``ProviderConformance``).

Two parts: :func:`catalog_problems` reads the catalog as data and lists what
is malformed; :func:`refusal_cases` derives, from the catalog itself, requests
the core must refuse before any I/O, so the kit can prove the catalog is wired
to the request path.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any

from chatplug.catalog import THINKING_MODES, ModelInfo
from chatplug.params import REQUEST_PARAMETERS
from chatplug.provider import Provider, Range

__all__ = ["catalog_problems", "refusal_cases"]

#: A value to send for each parameter the catalog may refuse, different from any sensible fixed value.
_PROBE_VALUES: dict[str, Any] = {
    "seed": 1,
    "frequency_penalty": 0.37,
    "presence_penalty": 0.37,
    "temperature": 0.37,
    "top_p": 0.37,
    "logprobs": True,
    "top_logprobs": 2,
    "logit_bias": {"1": 1},
    "parallel_tool_calls": False,
    "n": 2,
    "user": "conformance-user",
    "stop": ["conformance-stop"],
}


def _probe_names(pattern: str) -> list[str]:
    """Model names a family pattern surely matches (used to find patterns an earlier one hides)."""
    names = []
    for filler in ("", "zz9"):
        name = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", pattern)  # a character class: its first character
        names.append(name.replace("*", filler).replace("?", "z"))
    return names


def _record_problems(where: str, info: ModelInfo, provider: Provider) -> Iterator[str]:
    if info.thinking is not None and info.thinking not in THINKING_MODES:
        yield f"{where}: thinking={info.thinking!r}; use one of {', '.join(THINKING_MODES)}"
    if info.thinking == "optional" and not isinstance(info.thinking_default, bool):
        yield f"{where}: thinking is 'optional' but thinking_default is {info.thinking_default!r}; say True or False"
    if info.thinking == "none" and info.thinking_default:
        yield f"{where}: thinking is 'none' but thinking_default is True"
    if info.reasoning_in_history and info.thinking == "none":
        yield f"{where}: reasoning_in_history is set on a model that does not think"
    for name in ("context_window", "max_output"):
        value = getattr(info, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            yield f"{where}: {name}={value!r} must be a whole number of tokens >= 1"
    if (
        isinstance(info.context_window, int) and isinstance(info.max_output, int)
        and info.max_output > info.context_window
    ):
        yield f"{where}: max_output {info.max_output} is above context_window {info.context_window}"
    for name in ("tools", "images", "json_mode", "json_schema"):
        value = getattr(info, name)
        if value is not None and not isinstance(value, bool):
            yield f"{where}: {name}={value!r} must be True, False or None"
    if info.reasoning_effort is not None and not all(isinstance(v, str) and v for v in info.reasoning_effort):
        yield f"{where}: reasoning_effort={info.reasoning_effort!r} must list non-empty strings"
    for table in ("fixed", "fixed_without_thinking", "unsupported", "ranges"):
        for param in getattr(info, table):
            if param not in REQUEST_PARAMETERS:
                yield (f"{where}: {table} names {param!r}, which is not a create() parameter "
                       "(a typo would never be checked)")
    for param in set(info.fixed) & set(info.unsupported):
        yield f"{where}: {param!r} is both fixed and unsupported"
    for old, new in info.renames.items():
        if old == new or not new:
            yield f"{where}: renames {old!r} -> {new!r} is not a rename"
        if old in info.unsupported or old in info.fixed:
            yield f"{where}: {old!r} is renamed and also fixed or unsupported"
    for param, allowed in info.ranges.items():
        if isinstance(allowed, Range) and allowed.min is not None and allowed.max is not None \
                and allowed.min > allowed.max:
            yield f"{where}: ranges[{param!r}] has min {allowed.min} above max {allowed.max}"
    limits = provider.limits
    for table in ("fixed", "fixed_without_thinking"):
        for param, value in getattr(info, table).items():
            allowed = info.ranges.get(param) or getattr(limits, param, None)
            if isinstance(allowed, Range) and value not in allowed:
                yield (f"{where}: {table}[{param!r}]={value!r} is outside {allowed.describe(param)}, "
                       "so the one accepted value would be refused")


def catalog_problems(provider: Provider) -> list[str]:
    """Everything malformed in ``provider.catalog``, one line each (empty when it is well formed)."""
    catalog = provider.catalog
    problems: list[str] = []
    for model, info in catalog.models.items():
        if not isinstance(info, ModelInfo):
            problems.append(f"models[{model!r}] is of type {type(info).__name__}, not a chatplug.ModelInfo")
            continue
        if not provider.claims(model):
            problems.append(f"models[{model!r}] is not claimed by the provider (models / model_prefixes), "
                            "so no request can reach it")
        problems += _record_problems(f"models[{model!r}]", info, provider)
    seen: list[str] = []
    for pattern, info in catalog.families:
        if not isinstance(pattern, str) or not pattern or not isinstance(info, ModelInfo):
            problems.append(f"families entry {pattern!r} must be a non-empty pattern and a chatplug.ModelInfo")
            continue
        hidden_by = next(
            (earlier for earlier in seen if all(fnmatch.fnmatchcase(p, earlier) for p in _probe_names(pattern))),
            None,
        )
        if hidden_by is not None:
            problems.append(f"families pattern {pattern!r} is never used: {hidden_by!r} comes first and matches "
                            "the same names; put the more specific pattern first")
        seen.append(pattern)
        problems += _record_problems(f"families[{pattern!r}]", info, provider)
    if not isinstance(catalog.default, ModelInfo):
        problems.append("default must be a chatplug.ModelInfo")
    else:
        problems += _record_problems("default", catalog.default, provider)
    for model in provider.models:
        if catalog.lookup(model).source == "default":
            problems.append(f"declared model {model!r} has no catalog entry (neither exact nor a family pattern)")
    return problems


def refusal_cases(provider: Provider) -> list[tuple[str, str, dict[str, Any]]]:
    """``(model, parameter, create() kwargs)`` the catalog says must be refused before any I/O.

    One case per exact catalog model and refusing rule (unsupported, fixed,
    tools, json_schema, thinking switch), with values chosen to break it.
    """
    cases: list[tuple[str, str, dict[str, Any]]] = []
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    for model, info in provider.catalog.models.items():
        for param in info.unsupported:
            if param in _PROBE_VALUES:
                cases.append((model, param, {param: _PROBE_VALUES[param]}))
        for param, value in info.fixed.items():
            probe = _PROBE_VALUES.get(param)
            if probe is not None and probe != value:
                cases.append((model, param, {param: probe}))
        if info.tools is False:
            cases.append((model, "tools", {"tools": [tool]}))
        if info.json_schema is False:
            schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
            cases.append((model, "response_format", {"response_format": schema}))
        if info.thinking == "none":
            cases.append((model, "thinking", {"extra_body": {"thinking": {"type": "enabled"}}}))
        if info.reasoning_effort == ():
            cases.append((model, "reasoning_effort", {"reasoning_effort": "high"}))
    return cases
