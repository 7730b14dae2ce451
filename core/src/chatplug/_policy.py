"""The parameter policy: the catalog's per-model rules applied to a request, before any I/O.

By default a parameter the model refuses (or that its provider would silently
ignore) is an :class:`~chatplug.InvalidRequestError` naming the model, the
parameter and what the model accepts. With ``drop_unsupported_params=True``
such a parameter is removed instead; every removal is logged on the
``chatplug`` logger and reported to the ``chatplug_on_adjust`` observers as an
:class:`~chatplug.Adjustment`. Nothing is ever dropped, clamped or filled in silently.

Pure renames (``max_completion_tokens`` -> ``max_tokens`` where the provider
documents only the latter) are applied in both modes, and reported as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatplug.catalog import ModelInfo, thinking_enabled
from chatplug.errors import InvalidRequestError, ModelRuleError
from chatplug.provider import Provider

if TYPE_CHECKING:
    from chatplug.events import Adjustment

__all__ = ["apply_policy", "DROP_HINT"]

logger = logging.getLogger("chatplug")

#: Appended to a refusal that ``drop_unsupported_params=True`` would turn into a drop.
DROP_HINT = "; or pass drop_unsupported_params=True to drop such parameters (each drop is logged)"

_IMAGE_PARTS = ("image_url", "input_image", "video_url")


def _adjustment(*args: Any, **kwargs: Any) -> Adjustment:
    """A :class:`~chatplug.events.Adjustment`: its class is created on the first one, and
    ``chatplug.events`` (with ``RequestEvent``) is not imported for it."""
    from chatplug._adjustment import Adjustment

    return Adjustment(*args, **kwargs)


def _describe(value: Any) -> str:
    return repr(value)


class _Run:
    """One request going through the policy."""

    def __init__(self, provider: Provider, info: ModelInfo, payload: dict[str, Any], drop: bool) -> None:
        self.provider = provider
        self.info = info
        self.model = info.model
        self.payload = payload
        self.drop = drop
        self.adjustments: list[Adjustment] = []

    def refuse(self, param: str, message: str, *, also: tuple[str, ...] = ()) -> None:
        """Refuse ``param`` (an error), or drop it (and ``also``) when dropping was asked for."""
        if not self.drop:
            raise ModelRuleError(
                f"{self.provider.id}: {message}{DROP_HINT}", param=param, provider=self.provider.id, model=self.model
            )
        for name in (param, *also):
            if name not in self.payload:
                continue
            value = self.payload.pop(name)
            self.adjustments.append(_adjustment("dropped", name, message, value))
            logger.warning("%s: dropped %s=%r (drop_unsupported_params=True): %s",
                           self.provider.id, name, value, message)

    def fail(self, param: str, message: str, *, model_rule: bool = False) -> InvalidRequestError:
        """An error that no option turns into a drop (dropping would change what is asked).

        ``model_rule`` marks a refusal by this model's own rules, which another
        model could take (a :class:`~chatplug.ModelRuleError`: fallbacks go on).
        """
        text = f"{self.provider.id}: {message}"
        if model_rule:
            return ModelRuleError(text, param=param, provider=self.provider.id, model=self.model)
        return InvalidRequestError(text, param=param, provider=self.provider.id)


def _rename(run: _Run) -> None:
    for old, new in run.info.renames.items():
        if old not in run.payload:
            continue
        if new in run.payload:
            raise run.fail(
                old, f"{run.model} takes {new}, and {old} means the same: send one of them, not both"
            )
        value = run.payload.pop(old)
        run.payload[new] = value
        reason = f"{run.provider.id} documents only {new} ({old} is its OpenAI name)"
        run.adjustments.append(_adjustment("renamed", old, reason, value, to=new))
        logger.debug("%s: sent %s as %s: %s", run.provider.id, old, new, reason)


def _unsupported(run: _Run) -> None:
    for param, hint in run.info.unsupported.items():
        if param in run.payload:
            text = f"{run.model} does not take {param} (got {param}={run.payload[param]!r}); leave it out"
            run.refuse(param, f"{text}: {hint}" if hint else text)


def _fixed(run: _Run, thinking: bool | None) -> None:
    fixed = dict(run.info.fixed)
    if thinking is False:
        fixed.update(run.info.fixed_without_thinking)
    for param, value in fixed.items():
        if param not in run.payload or run.payload[param] == value:
            continue
        when = ""
        if param in run.info.fixed_without_thinking:
            when = " with thinking on" if thinking is not False else " with thinking off"
        run.refuse(
            param,
            f"{run.model} fixes {param} at {_describe(value)}{when} (got {param}={run.payload[param]!r}); "
            f"leave {param} out or send {_describe(value)}",
        )


def _ranges(run: _Run) -> None:
    for param, allowed in run.info.ranges.items():
        value = run.payload.get(param)
        if value is not None and value not in allowed:
            run.refuse(
                param, f"{param}={value!r} is out of range for {run.model}; it accepts {allowed.describe(param)}"
            )


def _max_output(run: _Run) -> None:
    limit = run.info.max_output
    for param in ("max_tokens", "max_completion_tokens"):
        value = run.payload.get(param)
        if limit is not None and isinstance(value, int) and value > limit:
            run.refuse(param, f"{param}={value} is above {run.model}'s maximum output of {limit} tokens; "
                              f"use {param} <= {limit}")


def _others_with(run: _Run, attribute: str) -> str:
    names = [name for name, info in run.provider.catalog.models.items() if getattr(info, attribute)]
    return f" ({run.provider.id} models that do: {', '.join(names)})" if names else ""


def _capabilities(run: _Run) -> None:
    info = run.info
    if info.tools is False and run.payload.get("tools"):
        run.refuse("tools", f"{run.model} does not take tools{_others_with(run, 'tools')}; leave tools out",
                   also=("tool_choice", "parallel_tool_calls"))
    response_format = run.payload.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object" and info.json_mode is False:
        run.refuse("response_format", f"{run.model} has no JSON mode (response_format type json_object); "
                                      "ask for JSON in the prompt instead")
    elif kind == "json_schema" and info.json_schema is False:
        instead = (
            'use response_format={"type": "json_object"} and describe the schema in the prompt'
            if info.json_mode
            else "ask for JSON in the prompt instead"
        )
        run.refuse("response_format", f"{run.model} does not take response_format type json_schema; {instead}")
    if "reasoning_effort" in run.payload and info.reasoning_effort is not None:
        value = run.payload["reasoning_effort"]
        if not info.reasoning_effort:
            run.refuse("reasoning_effort", f"{run.model} does not take reasoning_effort (got {value!r})"
                                           f"{_others_with(run, 'reasoning_effort')}; leave it out")
        elif value not in info.reasoning_effort:
            run.refuse("reasoning_effort", f"reasoning_effort={value!r} is not accepted by {run.model}; it accepts "
                                           + ", ".join(repr(v) for v in info.reasoning_effort))


def _images(run: _Run) -> None:
    if run.info.images is not False:
        return
    for index, message in enumerate(run.payload.get("messages") or ()):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for part_index, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") in _IMAGE_PARTS:
                raise run.fail(
                    "messages",
                    f"messages[{index}].content[{part_index}] is an {part.get('type')} part, but {run.model} "
                    f"takes text only{_others_with(run, 'images')}",
                    model_rule=True,
                )


def _thinking_switch(run: _Run) -> None:
    switch = run.payload.get("thinking")
    if switch is None:
        return
    if run.info.thinking == "none":
        run.refuse("thinking", f"{run.model} does not think, so it takes no thinking switch "
                               f"(got thinking={switch!r}){_others_with(run, 'thinking')}; leave it out")
    elif run.info.thinking == "always" and isinstance(switch, Mapping) and switch.get("type") == "disabled":
        run.refuse("thinking", f"{run.model} always thinks; thinking cannot be disabled "
                               "(leave the switch out, or pick a model whose thinking is optional)")


def _history(run: _Run, thinking: bool | None, placeholder: str | None) -> None:
    if not run.info.reasoning_in_history or thinking is not True:
        return
    messages = run.payload.get("messages")
    if not isinstance(messages, list):
        return
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        if message.get("reasoning_content"):
            continue
        if placeholder is None:
            switch = (
                "" if run.info.thinking == "always"
                else ', or turn thinking off with extra_body={"thinking": {"type": "disabled"}}'
            )
            raise run.fail(
                "messages",
                f"messages[{index}] is an assistant message with tool_calls but no reasoning_content; {run.model} "
                f"thinks, and {run.provider.name or run.provider.id} refuses such a history (HTTP 400). "
                "Send the reply's message back as it came (reply.choices[0].message, or its to_dict(), "
                f"keeps reasoning_content){switch}; "
                "or opt in to a placeholder with Client(reasoning_placeholder=...)",
                model_rule=True,
            )
        if not isinstance(placeholder, str) or not placeholder:
            raise run.fail(
                "reasoning_placeholder",
                f"reasoning_placeholder={placeholder!r} must be a non-empty string: an empty reasoning_content "
                f"counts as missing (a single space is the smallest value reported to pass)",
            )
        messages[index] = {**message, "reasoning_content": placeholder}
        param = f"messages[{index}].reasoning_content"
        reason = f"{run.model} needs reasoning_content on assistant tool-call messages; filled with the placeholder"
        run.adjustments.append(_adjustment("filled", param, reason))
        logger.warning("%s: %s was missing; filled with reasoning_placeholder", run.provider.id, param)


def apply_policy(
    provider: Provider,
    model: str,
    payload: dict[str, Any],
    *,
    drop_unsupported: bool = False,
    reasoning_placeholder: str | None = None,
) -> list[Adjustment]:
    """Check (and translate) ``payload`` against ``model``'s catalog record, in place.

    Returns the adjustments made (renames, drops, fills), each already logged.
    Raises :class:`~chatplug.InvalidRequestError` for what the model refuses.
    """
    info = provider.model_info(model)
    run = _Run(provider, info, payload, drop_unsupported)
    _rename(run)
    _thinking_switch(run)
    thinking = thinking_enabled(info, payload)  # the switch may have been dropped
    _unsupported(run)
    _fixed(run, thinking)
    _ranges(run)
    _max_output(run)
    _capabilities(run)
    _images(run)
    _history(run, thinking, reasoning_placeholder)
    return run.adjustments
