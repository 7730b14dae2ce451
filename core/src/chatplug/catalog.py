"""The model catalog: what each model of a provider accepts, as data.

A provider is not one set of rules: each model has its own context window,
thinks or not, takes tools and images or not, and may fix some sampling
parameters. A plugin declares this as a :class:`ModelCatalog` on its
:class:`~chatplug.Provider` record; the core reads it to check (and, when
asked, drop) parameters before any I/O, and ``chatplug models`` shows it.

::

    BASE = ModelInfo(context_window=128_000, tools=True, images=False, json_mode=True,
                     json_schema=False, thinking="none")
    CATALOG = ModelCatalog(
        models={"acme-large": BASE, "acme-vision": BASE.replace(images=True)},
        families=[("acme-think-*", BASE.replace(thinking="always"))],   # new models of a known family
        default=BASE,                                                   # any other name the provider claims
    )
    provider.model_info("acme-think-2")    # -> the family's record, with model="acme-think-2"

Every field whose value is ``None`` is *not declared*: the core checks
nothing for it. A provider without a catalog therefore behaves exactly as
before: :meth:`ModelCatalog.lookup` returns an all-``None`` record.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import attr

from chatplug._attrs_methods import FrozenValueObject

__all__ = ["ModelInfo", "ModelCatalog", "Thinking", "THINKING_MODES", "thinking_enabled"]

#: How a model thinks: never, on request (see ``thinking_default``), or always.
Thinking = Literal["none", "optional", "always"]
#: The accepted values of :attr:`ModelInfo.thinking`.
THINKING_MODES: tuple[str, ...] = ("none", "optional", "always")


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _to_ranges(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    from chatplug.provider import Range  # here: provider.py imports this module

    ranges = {}
    for name, item in (value or {}).items():
        ranges[name] = item if isinstance(item, Range) else Range(*item)
    return MappingProxyType(ranges)


def _optional_strings(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_thinking(instance: ModelInfo, attribute: Any, value: str | None) -> None:
    if value is not None and value not in THINKING_MODES:
        raise ValueError(f"ModelInfo.thinking={value!r}: use one of {', '.join(THINKING_MODES)} (or None)")


@attr.frozen(eq=False, repr=False)
class ModelInfo(FrozenValueObject):
    """What one model accepts. ``None`` in any field means "not declared": nothing is checked.

    - ``model``: the name this record was looked up for (filled in by
      :meth:`ModelCatalog.lookup`); ``source``: what matched it: the exact
      name, a family pattern such as ``"glm-5*"``, or ``"default"``.
    - ``context_window`` / ``max_output``: tokens. A ``max_tokens`` above
      ``max_output`` is refused before any I/O.
    - ``thinking``: ``"none"`` (the model never thinks, and is never sent a
      ``thinking`` switch), ``"optional"`` (on or off per request with
      ``extra_body={"thinking": {"type": "enabled"|"disabled"}}``; the server's
      default is ``thinking_default``) or ``"always"`` (cannot be switched off).
    - ``fixed``: parameters the model pins to one value, e.g.
      ``{"top_p": 0.95}``: leaving them out or sending that value is fine,
      anything else is refused. ``fixed_without_thinking`` overrides entries of
      ``fixed`` when thinking is off (Kimi K2.5: temperature 1.0 thinking, 0.6 not).
    - ``ranges``: per-model ranges that replace the provider's
      :class:`~chatplug.Limits` for a numeric parameter.
    - ``unsupported``: parameters the model refuses or silently ignores,
      mapped to a short hint shown in the error (what to do instead).
    - ``renames``: pure name differences translated on the way out, e.g.
      ``{"max_completion_tokens": "max_tokens"}``.
    - ``tools``, ``images``, ``json_mode`` (``response_format`` ``json_object``),
      ``json_schema`` (``response_format`` ``json_schema``): supported or not.
    - ``reasoning_effort``: the accepted values; ``()`` means the parameter
      is not taken at all.
    - ``reasoning_in_history``: with thinking on, every assistant message that
      carries ``tool_calls`` must carry its ``reasoning_content`` too (Kimi).
    - ``notes``: a short human note (where the facts come from).
    """

    model: str = ""
    source: str = "default"
    context_window: int | None = None
    max_output: int | None = None
    thinking: Thinking | None = attr.field(default=None, validator=_check_thinking)
    thinking_default: bool | None = None
    fixed: Mapping[str, Any] = attr.field(factory=dict, converter=_frozen_map, hash=False)
    fixed_without_thinking: Mapping[str, Any] = attr.field(factory=dict, converter=_frozen_map, hash=False)
    ranges: Mapping[str, Any] = attr.field(factory=dict, converter=_to_ranges, hash=False)
    unsupported: Mapping[str, str] = attr.field(factory=dict, converter=_frozen_map, hash=False)
    renames: Mapping[str, str] = attr.field(factory=dict, converter=_frozen_map, hash=False)
    tools: bool | None = None
    images: bool | None = None
    json_mode: bool | None = None
    json_schema: bool | None = None
    reasoning_effort: tuple[str, ...] | None = attr.field(default=None, converter=_optional_strings)
    reasoning_in_history: bool = False
    notes: str = ""

    def replace(self, **changes: Any) -> ModelInfo:
        """A copy with ``changes`` applied: how a family record derives from a base one."""
        return attr.evolve(self, **changes)

    @property
    def thinks_by_default(self) -> bool | None:
        """Whether a request that says nothing about thinking gets thinking (``None``: not declared)."""
        if self.thinking == "always":
            return True
        if self.thinking == "none":
            return False
        if self.thinking == "optional":
            return self.thinking_default
        return None

    def summary(self) -> dict[str, Any]:
        """The declared facts as a plain dict (``None`` fields left out), for display and JSON."""
        out: dict[str, Any] = {}
        for field in attr.fields(ModelInfo):
            value = getattr(self, field.name)
            if value is None or (isinstance(value, Mapping) and not value) or (field.name == "notes" and not value):
                continue
            if field.name == "reasoning_in_history" and not value:
                continue
            if isinstance(value, Mapping):
                value = {key: item.describe(key) if hasattr(item, "describe") else item for key, item in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out


#: How many looked-up records a catalog keeps.
_MAX_REMEMBERED = 512


def _to_models(value: Mapping[str, ModelInfo] | None) -> Mapping[str, ModelInfo]:
    return MappingProxyType(dict(value or {}))


def _to_families(value: Iterable[tuple[str, ModelInfo]] | Mapping[str, ModelInfo]) -> tuple[tuple[str, ModelInfo], ...]:
    if isinstance(value, Mapping):
        return tuple(value.items())
    return tuple((pattern, info) for pattern, info in value)


@attr.frozen(eq=False, repr=False)
class ModelCatalog(FrozenValueObject):
    """A provider's models as data: exact names, family patterns, and a default.

    - ``models``: records by exact model name.
    - ``families``: ``(pattern, record)`` pairs tried in order, first match
      wins; a pattern is a shell-style glob (``"glm-5*"``, ``"kimi-k2*-thinking*"``),
      so a new model of a known family gets its family's rules. Put the most
      specific patterns first.
    - ``default``: the record of any other model (all ``None`` unless given):
      an unknown model is never a crash, it is simply not checked.
    """

    models: Mapping[str, ModelInfo] = attr.field(factory=dict, converter=_to_models, hash=False)
    families: tuple[tuple[str, ModelInfo], ...] = attr.field(factory=tuple, converter=_to_families, hash=False)
    default: ModelInfo = attr.field(factory=ModelInfo, hash=False)
    #: Records already looked up (they are immutable): every request looks its model up twice.
    _looked_up: dict[str, ModelInfo] = attr.field(factory=dict, init=False, repr=False, eq=False, hash=False)

    def lookup(self, model: str) -> ModelInfo:
        """The record for ``model``: an exact entry, else the first matching family, else ``default``.

        The returned record carries ``model`` and ``source`` (what matched).
        """
        info = self._looked_up.get(model)
        if info is None:
            info = self._find(model)
            if len(self._looked_up) < _MAX_REMEMBERED:  # bounded: model names come from callers
                self._looked_up[model] = info
        return info

    def _find(self, model: str) -> ModelInfo:
        info = self.models.get(model)
        if info is not None:
            return attr.evolve(info, model=model, source=model)
        for pattern, family in self.families:
            if fnmatch.fnmatchcase(model, pattern):
                return attr.evolve(family, model=model, source=pattern)
        return attr.evolve(self.default, model=model, source="default")

    def __bool__(self) -> bool:
        return bool(self.models or self.families)


def thinking_enabled(info: ModelInfo, payload: Mapping[str, Any]) -> bool | None:
    """Whether this request will think: the ``thinking`` switch if the payload has one,
    else the model's default. ``None`` when neither says."""
    switch = payload.get("thinking")
    if isinstance(switch, Mapping) and switch.get("type") in ("enabled", "disabled"):
        return bool(switch.get("type") == "enabled")
    return info.thinks_by_default
