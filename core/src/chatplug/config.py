"""Providers without code: OpenAI-compatible endpoints declared in a TOML file.

The file lives at ``$CHATPLUG_CONFIG`` if that is set, else
``$XDG_CONFIG_HOME/chatplug/providers.toml`` (``~/.config/chatplug/providers.toml``
when ``XDG_CONFIG_HOME`` is unset). Each ``[[providers]]`` table declares one
provider::

    [[providers]]
    id = "local-vllm"                      # required: lowercase, used as "local-vllm/<model>"
    base_url = "http://127.0.0.1:8000/v1"  # required: up to and excluding /chat/completions
    api_key_env = "VLLM_API_KEY"           # optional: a name or a list; omit it for a server without auth
    models = ["Qwen/Qwen2.5-7B-Instruct"]  # exact model names it claims
    model_prefixes = ["qwen"]              # and/or name prefixes
    name = "vLLM on this machine"          # optional

    [providers.limits]                     # optional, each key optional
    temperature = [0, 2]
    top_p = [0, 1]
    max_stop = 4
    max_n = 1
    tool_choice = ["auto", "none"]

The default registry reads it once, lazily, next to the installed plugins: a
malformed file is reported like a plugin that fails to load (a warning and an
entry in :func:`chatplug.plugin_failures`; in strict mode a
:class:`~chatplug.PluginError` whose ``__cause__`` is the :class:`ConfigError`),
and ``CHATPLUG_DISABLE_PLUGINS=config`` ignores the file.

Reading TOML needs :mod:`tomllib` (Python 3.11+). On Python 3.10 the file is
read with the ``tomli`` backport if it is installed (``pip install tomli``);
otherwise a config file that exists is reported as a :class:`ConfigError`
saying so. chatplug adds no runtime dependency for this.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from chatplug.errors import PluginError
from chatplug.hookspecs import hookimpl
from chatplug.plugins import CONFIG_PLUGIN_NAME, ENV_CONFIG, config_path
from chatplug.provider import PROVIDER_ID_RULE, Limits, Provider, is_provider_id

__all__ = [
    "ENV_CONFIG",
    "PLUGIN_NAME",
    "ConfigError",
    "ConfigProviders",
    "TOMLParseError",
    "config_path",
    "load_providers",
    "parse_toml",
]

#: The plugin name the config providers are registered under (block it with CHATPLUG_DISABLE_PLUGINS).
PLUGIN_NAME = CONFIG_PLUGIN_NAME

_FIELDS = frozenset({"id", "base_url", "api_key_env", "models", "model_prefixes", "limits", "name"})
_LIMIT_FIELDS = frozenset({"temperature", "top_p", "max_stop", "max_n", "tool_choice"})
_TOOL_CHOICES = frozenset({"auto", "none", "required", "function"})
#: Where tomllib says an error is. A pattern, compiled (and cached by ``re``) on the first error:
#: every process that builds a client imports this module, few read a malformed file.
_POSITION = r"\(at line (\d+), column (\d+)\)"


class ConfigError(PluginError, ValueError):
    """The providers file is malformed. The message names the file, the line and the problem."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


def _toml() -> ModuleType | None:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # Python 3.10: the backport, if the user installed it
        import tomli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return tomli  # type: ignore[no-any-return,unused-ignore]


class _Locator:
    """Finds the line of the N-th ``[[providers]]`` table, or of a key inside it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.tables = [i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*providers\s*\]\]", line)]

    def table(self, index: int) -> int | None:
        return self.tables[index] if index < len(self.tables) else None

    def key(self, index: int, key: str, section: str | None = None) -> int | None:
        start = self.table(index)
        if start is None:
            return None
        end = self.tables[index + 1] if index + 1 < len(self.tables) else len(self.lines) + 1
        in_section = section is None
        in_table = True
        pattern = re.compile(rf"\s*([\"']?){re.escape(key)}\1\s*=")
        dotted = re.compile(rf"\s*([\"']?){re.escape(section or '')}\1\s*\.\s*([\"']?){re.escape(key)}\2\s*=")
        for number in range(start + 1, end):
            line = self.lines[number - 1]
            header = re.match(r"\s*\[([^\[\]]+)\]", line)
            if header:
                in_section = section is not None and header.group(1).strip() == f"providers.{section}"
                in_table = False
                continue
            if in_section and pattern.match(line):
                return number
            if section is not None and in_table and dotted.match(line):
                return number  # limits.temperature = [...] written inside the provider's own table
        return start


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string or a list of strings as a tuple; ``None`` for anything else or an empty string."""
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and all(isinstance(item, str) and item.strip() for item in items):
        return tuple(items)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _limits(raw: Any, fail: Any) -> Limits:
    if not isinstance(raw, dict):
        raise fail("limits", "limits must be a table, e.g. [providers.limits]")
    unknown = sorted(set(raw) - _LIMIT_FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown limit {unknown[0]!r}; known: {', '.join(sorted(_LIMIT_FIELDS))}",
                   "limits")
    values: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        if name in raw:
            pair = raw[name]
            if not (isinstance(pair, list) and len(pair) == 2 and all(_number(v) for v in pair) and pair[0] <= pair[1]):
                raise fail(name, f"limits.{name} must be [min, max] with min <= max, got {pair!r}", "limits")
            values[name] = (pair[0], pair[1])
    for name in ("max_stop", "max_n"):
        if name in raw:
            value = raw[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise fail(name, f"limits.{name} must be a whole number >= 1, got {value!r}", "limits")
            values[name] = value
    if "tool_choice" in raw:
        choices = _strings(raw["tool_choice"])
        if choices is None or not set(choices) <= _TOOL_CHOICES:
            raise fail("tool_choice", f"limits.tool_choice must list some of {sorted(_TOOL_CHOICES)}, "
                       f"got {raw['tool_choice']!r}", "limits")
        values["tool_choice"] = choices
    return Limits(**values)


def _provider(index: int, raw: Any, path: Path, where: _Locator) -> Provider:
    def fail(key: str | None, problem: str, section: str | None = None) -> ConfigError:
        line = where.key(index, key, section) if key else where.table(index)
        return ConfigError(path, line, f"provider #{index + 1}: {problem}")

    if not isinstance(raw, dict):
        raise ConfigError(path, where.table(index), f"provider #{index + 1} must be a table")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field {unknown[0]!r}; known fields: {', '.join(sorted(_FIELDS))}")
    for required in ("id", "base_url"):
        if required not in raw:
            raise fail(None, f"missing required field {required!r}")
        if not isinstance(raw[required], str):
            raise fail(required, f"{required} must be a string, got {raw[required]!r}")
    if not is_provider_id(raw["id"]):
        raise fail("id", f"provider id {raw['id']!r} is invalid: {PROVIDER_ID_RULE}")
    if not raw["base_url"].startswith(("http://", "https://")):
        raise fail("base_url", f"base_url {raw['base_url']!r} must start with http:// or https://")
    names: dict[str, tuple[str, ...]] = {}
    for name in ("api_key_env", "models", "model_prefixes"):
        if name in raw:
            value = _strings(raw[name])
            if value is None:
                raise fail(name, f"{name} must be a string or a list of strings, none empty, got {raw[name]!r}"
                           + (" (an empty model prefix would claim every model)" if name == "model_prefixes" else ""))
            names[name] = value
    if not names.get("models") and not names.get("model_prefixes"):
        raise fail(None, "declare the models it serves: models = [...] and/or model_prefixes = [...]")
    for env_name in names.get("api_key_env", ()):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_name):
            raise fail("api_key_env", f"api_key_env {env_name!r} is not an environment variable name")
    if "name" in raw and not isinstance(raw["name"], str):
        raise fail("name", f"name must be a string, got {raw['name']!r}")
    limits = _limits(raw["limits"], fail) if "limits" in raw else Limits()
    return Provider(
        id=raw["id"],
        base_url=raw["base_url"].rstrip("/"),
        name=raw.get("name", ""),
        api_key_env=names.get("api_key_env", ()),
        models=names.get("models", ()),
        model_prefixes=names.get("model_prefixes", ()),
        limits=limits,
        capabilities=frozenset({"config"}),
    )


class TOMLParseError(ValueError):
    """Text that is not valid TOML, or no TOML reader on this Python: ``line``
    (1-based, or ``None``) and ``problem`` say what, for the caller to name its file."""

    def __init__(self, line: int | None, problem: str) -> None:
        super().__init__(f"line {line}: {problem}" if line is not None else problem)
        self.line = line
        self.problem = problem


def parse_toml(text: str) -> dict[str, Any]:
    """The TOML document in ``text`` (``tomllib``; the ``tomli`` backport on Python 3.10).

    Raises :class:`TOMLParseError` with the line, the column and the problem
    when ``text`` is not valid TOML. The providers file and plugins' own
    config files (the gateway's) share it, so they report errors alike.
    """
    toml = _toml()
    if toml is None:
        raise TOMLParseError(None, "reading TOML on Python 3.10 needs the tomli package (pip install tomli)")
    try:
        return dict(toml.loads(text))
    except toml.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(_POSITION, message)
        line = int(found.group(1)) if found else getattr(exc, "lineno", None)
        problem = re.sub(_POSITION, "", message).strip()
        if found:
            problem += f" (column {found.group(2)})"
        elif "(at end of document)" in message:
            line = max(len(text.splitlines()), 1)
            problem = problem.replace("(at end of document)", "(at the end of the file)")
        raise TOMLParseError(line, f"not valid TOML: {problem}") from None


def load_providers(path: str | Path) -> list[Provider]:
    """Read the providers declared in the TOML file at ``path``.

    Raises :class:`ConfigError` naming the file, the line and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot read the file: {exc}") from None
    try:
        data = parse_toml(text)
    except TOMLParseError as exc:
        raise ConfigError(path, exc.line, exc.problem) from None
    where = _Locator(text)
    unknown = sorted(set(data) - {"providers"})
    if unknown:
        starts = (unknown[0], f"[{unknown[0]}")
        line = next((i + 1 for i, text in enumerate(where.lines) if text.strip().startswith(starts)), None)
        raise ConfigError(path, line, f"unknown top-level key {unknown[0]!r}; declare each provider in a "
                          "[[providers]] table")
    raw_providers = data.get("providers", [])
    if not isinstance(raw_providers, list):
        raise ConfigError(path, None, "providers must be an array of tables: write each one as [[providers]]")
    providers: list[Provider] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_providers):
        provider = _provider(index, raw, path, where)
        if provider.id in seen:
            raise ConfigError(path, where.key(index, "id"),
                              f"provider id {provider.id!r} is declared twice (also provider #{seen[provider.id] + 1})")
        seen[provider.id] = index
        providers.append(provider)
    return providers


class ConfigProviders:
    """A plugin serving the providers of one TOML file.

    Registered by the default registry under :data:`PLUGIN_NAME`; register
    one yourself with ``registry.register(ConfigProviders.from_file(path))``.
    A provider declared without ``api_key_env`` is called with no auth header
    unless a key is passed to the client.
    """

    def __init__(self, providers: list[Provider], path: Path | None = None) -> None:
        self.providers = list(providers)
        self.path = path
        self._keyless = frozenset(p.id for p in self.providers if not p.api_key_env)

    @classmethod
    def from_file(cls, path: str | Path) -> ConfigProviders:
        """The providers of the file at ``path`` (:class:`ConfigError` if it is malformed)."""
        return cls(load_providers(path), Path(path))

    def __repr__(self) -> str:
        return f"<chatplug.config.ConfigProviders {sorted(p.id for p in self.providers)} from {self.path}>"

    @hookimpl
    def chatplug_providers(self) -> list[Provider]:
        """The declared providers."""
        return self.providers

    @hookimpl
    def chatplug_credentials(self, provider: Provider, api_key: str | None) -> Mapping[str, str] | None:
        """No auth header for a keyless provider of this file when no key was given."""
        if provider.id in self._keyless and not api_key:
            return {}
        return None


def load_plugin(environ: Mapping[str, str] | None = None) -> ConfigProviders | None:
    """The plugin for the providers file, or ``None`` when there is no file.

    Raises :class:`ConfigError` for a malformed file.
    """
    path = config_path(environ)
    if not path.is_file():
        if (environ if environ is not None else os.environ).get(ENV_CONFIG):
            raise ConfigError(path, None, f"no such file (named by {ENV_CONFIG})")
        return None
    return ConfigProviders.from_file(path)
