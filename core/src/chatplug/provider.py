"""A provider declared as data: where it lives, how it authenticates, what it accepts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attr

from chatplug._attrs_methods import FrozenValueObject
from chatplug.catalog import ModelCatalog, ModelInfo

__all__ = ["Provider", "Limits", "Range"]

_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARACTERS = _ID_FIRST | frozenset("_.-")


#: What :func:`is_provider_id` checks, as error messages say it.
PROVIDER_ID_RULE = "use lowercase ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_provider_id(value: object) -> bool:
    """Whether ``value`` is a valid provider id: a lowercase ASCII letter or digit, then
    letters, digits, ``_``, ``.`` or ``-`` (a set test, not a regular expression: every
    process that builds a client checks ids, and compiling a pattern costs more)."""
    return isinstance(value, str) and value[:1] in _ID_FIRST and _ID_CHARACTERS.issuperset(value)


@attr.frozen(eq=False, repr=False)
class Range(FrozenValueObject):
    """An inclusive numeric range, e.g. ``Range(0, 1)`` for a temperature."""

    min: float | None = None
    max: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def describe(self, name: str) -> str:
        """Human form, e.g. ``0 <= temperature <= 1``."""
        low = "" if self.min is None else f"{_num(self.min)} <= "
        high = "" if self.max is None else f" <= {_num(self.max)}"
        return f"{low}{name}{high}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _to_strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _to_optional_strings(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _to_string_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _to_string_map(value: Mapping[str, str]) -> Mapping[str, str]:
    # Read-only, so the shared record cannot be changed through it.
    return MappingProxyType(dict(value))


def _to_range(value: Range | tuple[float, float] | None) -> Range | None:
    if value is None or isinstance(value, Range):
        return value
    low, high = value
    return Range(low, high)


@attr.frozen(eq=False, repr=False)
class Limits(FrozenValueObject):
    """Parameter limits a provider enforces. The core rejects a request that
    breaks one with :class:`~chatplug.InvalidRequestError` before any I/O;
    nothing is clamped silently. ``None`` means "no limit declared".

    ``tool_choice`` lists the accepted string values; ``"function"`` stands for
    the object form ``{"type": "function", "function": {"name": ...}}``.
    """

    temperature: Range | None = attr.field(default=None, converter=_to_range)
    top_p: Range | None = attr.field(default=None, converter=_to_range)
    max_stop: int | None = None
    max_n: int | None = None
    tool_choice: tuple[str, ...] | None = attr.field(
        default=None, converter=_to_optional_strings
    )


@attr.frozen(eq=False, repr=False)
class Provider(FrozenValueObject):
    """A provider record: everything the core needs to call an OpenAI-compatible API.

    - ``id``: short lowercase name used in ``provider/model`` (``"glm"``).
    - ``base_url``: the default endpoint, up to and excluding ``/chat/completions``.
    - ``endpoints``: other named endpoints (regions, plans), chosen with
      ``Client(endpoint=NAME)``.
    - ``api_key_env``: env vars read for the key, first set wins.
    - ``base_url_env``: env var that overrides ``base_url``.
    - ``models``: exact model names claimed; ``model_prefixes``: prefixes claimed.
    - ``limits``: :class:`Limits`; ``capabilities``: free-form flags
      (``"reasoning"``, ``"tools"``, ``"vision"``, ...).
    - ``auth_header`` / ``auth_scheme``: how the key is sent (default
      ``Authorization: Bearer <key>``).
    - ``catalog``: a :class:`~chatplug.ModelCatalog`, what each model accepts
      (read it with :meth:`model_info`); empty by default, so nothing is
      checked per model.
    """

    id: str = attr.field()
    base_url: str = attr.field()
    name: str = ""
    endpoints: Mapping[str, str] = attr.field(factory=dict, converter=_to_string_map, hash=False)
    api_key_env: tuple[str, ...] = attr.field(default=(), converter=_to_strings)
    base_url_env: str | None = None
    models: tuple[str, ...] = attr.field(default=(), converter=_to_strings)
    model_prefixes: tuple[str, ...] = attr.field(default=(), converter=_to_strings)
    limits: Limits = attr.field(factory=Limits)
    capabilities: frozenset[str] = attr.field(default=frozenset(), converter=_to_string_set)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    docs_url: str | None = None
    catalog: ModelCatalog = attr.field(factory=ModelCatalog, hash=False)
    #: The distribution that declared this provider (filled in by the loader).
    distribution: str | None = attr.field(default=None, eq=False)
    #: That distribution's version (filled in by the loader).
    version: str | None = attr.field(default=None, eq=False)

    @id.validator
    def _check_id(self, _: Any, value: str) -> None:
        if not is_provider_id(value):
            raise ValueError(f"provider id {value!r} is invalid: {PROVIDER_ID_RULE}")

    @base_url.validator
    def _check_base_url(self, _: Any, value: str) -> None:
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError(f"provider {self.id!r}: base_url {value!r} must start with http:// or https://")

    def claims(self, model: str) -> bool:
        """Whether this provider claims ``model`` by name or by prefix."""
        return model in self.models or any(model.startswith(prefix) for prefix in self.model_prefixes)

    def model_info(self, model: str) -> ModelInfo:
        """What ``model`` accepts, from this provider's catalog (a :class:`~chatplug.ModelInfo`).

        ``model`` may carry this provider's prefix (``"glm/glm-4.6"``). A model
        the catalog does not know gets the catalog's default record (by
        default every field ``None``: not declared, nothing checked), never an error.
        """
        prefix, sep, rest = model.partition("/")
        if sep and prefix == self.id and rest:
            model = rest
        return self.catalog.lookup(model)

    def resolve_base_url(self, endpoint: str | None = None, environ: Mapping[str, str] | None = None) -> str:
        """The base URL to use: a named ``endpoint``, else the env override, else the default."""
        if endpoint is not None:
            try:
                return self.endpoints[endpoint]
            except KeyError:
                from chatplug.errors import InvalidRequestError

                known = ", ".join(sorted(self.endpoints)) or "none declared"
                raise InvalidRequestError(
                    f"{self.id}: unknown endpoint {endpoint!r}; known endpoints: {known}",
                    param="endpoint",
                    provider=self.id,
                ) from None
        if environ is not None and self.base_url_env:
            override = environ.get(self.base_url_env)
            if override:
                url = self.endpoints.get(override, override)
                if not url.startswith(("http://", "https://")):
                    from chatplug.errors import InvalidRequestError

                    known = ", ".join(sorted(self.endpoints)) or "none declared"
                    raise InvalidRequestError(
                        f"{self.id}: {self.base_url_env}={override!r} is neither a URL nor an endpoint name "
                        f"(known endpoints: {known})",
                        param="base_url",
                        provider=self.id,
                    )
                return url
        return self.base_url
