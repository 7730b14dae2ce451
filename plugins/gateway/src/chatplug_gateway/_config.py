"""The gateway's one TOML file: listen address, gateway keys, aliases, fallbacks, limits.

Same family as the core's providers file (:mod:`chatplug.config`): TOML, read
with :mod:`tomllib` (or the ``tomli`` backport on Python 3.10), every error
naming the file, the line and what would be right. See docs/gateway.md for
every key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import attrs
from chatplug.config import TOMLParseError, parse_toml

__all__ = [
    "ENV_CONFIG",
    "ENV_KEYS",
    "GatewayConfig",
    "GatewayConfigError",
    "GatewayKey",
    "ProviderKeys",
    "TenantLimits",
    "UpstreamLimit",
    "is_loopback",
    "load_config",
]

#: Environment variable naming the gateway's config file (how `--workers N` passes it on).
ENV_CONFIG = "CHATPLUG_GATEWAY_CONFIG"
#: Environment variable with gateway keys (comma-separated), each allowed every model, no limits.
ENV_KEYS = "CHATPLUG_GATEWAY_KEYS"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOP = frozenset({"server", "upstream", "providers", "models", "fallbacks", "limits", "keys"})


class GatewayConfigError(ValueError):
    """The gateway's config file is malformed: the message names the file, the line and the problem."""

    def __init__(self, path: Path | None, line: int | None, problem: str) -> None:
        where = str(path) if path is not None else "gateway config"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@attrs.frozen
class TenantLimits:
    """A gateway key's own limits (``None``: unlimited). ``max_wait`` 0 answers 429 at once."""

    rpm: int | None = None
    tpm: int | None = None
    max_in_flight: int | None = None
    max_wait: float = 0.0

    @property
    def any(self) -> bool:
        """Whether any limit is set."""
        return bool(self.rpm or self.tpm or self.max_in_flight)


@attrs.frozen
class GatewayKey:
    """One gateway key: a name (shown in logs and metrics), the key's SHA-256, its models and limits.

    The key itself is never kept: requests are matched by hash.
    """

    name: str
    sha256: str = attrs.field(repr=False)
    models: tuple[str, ...] = ()
    limits: TenantLimits = TenantLimits()

    def allows(self, *names: str) -> bool:
        """Whether any of ``names`` (the requested name, the resolved ``provider/model``) is allowed."""
        if not self.models:
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for name in names if name for pattern in self.models)


@attrs.frozen
class UpstreamLimit:
    """A shared limit on the provider side (maps to :class:`chatplug.RateLimit`)."""

    provider: str | None = None
    model: str | None = None
    per_key: bool = False
    max_in_flight: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    window: int = 60


@attrs.frozen
class ProviderKeys:
    """Where one provider's keys come from: environment variable names (several make a key pool)."""

    provider: str
    api_key_env: tuple[str, ...]


@attrs.frozen
class GatewayConfig:
    """Everything ``chatplug serve`` reads from its file (all of it optional)."""

    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_retries: int = 2
    timeout: float = 600.0
    fallback_on_context_length: bool = False
    graceful_timeout: float = 30.0
    #: The largest request body accepted (bytes); a larger one is a 413 before it is read in full.
    max_body_bytes: int = 32 * 1024 * 1024
    keys: tuple[GatewayKey, ...] = ()
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    fallbacks: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    provider_keys: tuple[ProviderKeys, ...] = ()
    storage: str = "memory://"
    max_wait: float = 60.0
    on_storage_error: str = "open"
    upstream_limits: tuple[UpstreamLimit, ...] = ()

    def with_env_keys(self, environ: Mapping[str, str]) -> GatewayConfig:
        """This config plus the keys of ``CHATPLUG_GATEWAY_KEYS`` (each allowed everything)."""
        raw = environ.get(ENV_KEYS, "")
        extra = [k.strip() for k in raw.split(",") if k.strip()]
        if not extra:
            return self
        added = tuple(
            GatewayKey(name=f"env-{index + 1}", sha256=hash_key(key)) for index, key in enumerate(extra)
        )
        return attrs.evolve(self, keys=self.keys + added)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) a gateway key is matched by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Lines:
    """Finds the line of a key inside a table (``[server]``, the N-th ``[[keys]]``, ...)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str]] = []
        for number, line in enumerate(self.lines, start=1):
            found = re.match(r"\s*\[\[?\s*([^\[\]]+?)\s*\]\]?", line)
            if found:
                self.headers.append((number, found.group(1).replace('"', "").replace(" ", "")))

    def table(self, name: str, index: int | None = None) -> int | None:
        found = [number for number, header in self.headers if header == name]
        if index is not None:
            return found[index] if index < len(found) else None
        return found[0] if found else None

    def top(self, key: str) -> int | None:
        """A top-level ``key = ...`` (before any table) or a table named ``[key]`` / ``[key.sub]``."""
        first = self.headers[0][0] if self.headers else len(self.lines) + 1
        pattern = re.compile(rf"\s*([\"']?){re.escape(key)}\1\s*[.=]")
        for number in range(1, first):
            if pattern.match(self.lines[number - 1]):
                return number
        for number, header in self.headers:
            if header == key or header.startswith(f"{key}."):
                return number
        return None

    def key(self, table: str | None, key: str, index: int | None = None) -> int | None:
        if table is None:
            return self.top(key)
        start = self.table(table, index)
        if start is None:
            return self._dotted(table, key)
        ends = [number for number, _ in self.headers if number > start]
        end = ends[0] if ends else len(self.lines) + 1
        pattern = re.compile(rf"\s*([\"']?){re.escape(key)}\1\s*=")
        for number in range(start + 1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        return start or None

    def _dotted(self, table: str | None, key: str) -> int | None:
        """``table.key = ...`` or ``table = { key = ... }`` written at the top level."""
        head = (table or "").split(".")[0]
        for number, line in enumerate(self.lines, start=1):
            if re.match(rf"\s*{re.escape(head)}\s*[.=]", line) and key in line:
                return number
        return self.table(head)


class _Reader:
    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.where = _Lines(text)

    def fail(self, table: str | None, key: str | None, problem: str, index: int | None = None) -> NoReturn:
        if key is not None:
            line = self.where.key(table, key, index)
        elif table is not None:
            line = self.where.table(table, index)
        else:
            line = None
        raise GatewayConfigError(self.path, line, problem)

    def table(self, data: Mapping[str, Any], name: str, known: frozenset[str]) -> dict[str, Any]:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            self.fail(None, name, f"{name} must be a table: write it as [{name}]")
        unknown = sorted(set(raw) - known)
        if unknown and known:
            self.fail(name, unknown[0], f"[{name}]: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return raw

    def whole(self, raw: Mapping[str, Any], table: str, key: str, *, low: int, index: int | None = None,
              label: str | None = None) -> int | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.fail(table, key, f"{_name(table, key, label)} must be a whole number >= {low}, got {value!r}", index)
        return value

    def seconds(self, raw: Mapping[str, Any], table: str, key: str, default: float, index: int | None = None,
                label: str | None = None) -> float:
        if key not in raw:
            return default
        value = raw[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            self.fail(table, key, f"{_name(table, key, label)} must be seconds >= 0, got {value!r}", index)
        return float(value)

    def string(self, raw: Mapping[str, Any], table: str, key: str, index: int | None = None,
               label: str | None = None, check: Callable[[str], bool] | None = None, hint: str = "") -> str | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str) or not value.strip() or (check is not None and not check(value)):
            self.fail(table, key, f"{_name(table, key, label)} must be {hint or 'a non-empty string'}, got {value!r}",
                      index)
        return value

    def strings(self, raw: Mapping[str, Any], table: str, key: str, index: int | None = None,
                label: str | None = None) -> tuple[str, ...] | None:
        if key not in raw:
            return None
        value = raw[key]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
            self.fail(table, key, f"{_name(table, key, label)} must be a string or a list of non-empty strings, "
                      f"got {value!r}", index)
        return tuple(items)


def _name(table: str, key: str, label: str | None) -> str:
    """How a message names a key: ``server.port``, or ``keys #2: rpm`` inside an array of tables."""
    return f"{label} {key}" if label else f"{table}.{key}"


def _model_name(value: str) -> bool:
    return bool(value.strip()) and value == value.strip()


def load_config(path: str | Path | None = None, *, text: str | None = None,
                environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and check the gateway config at ``path`` (or the TOML ``text``).

    Raises :class:`GatewayConfigError` naming the file, the line and the
    problem. Keys named by ``key_env`` must be set in ``environ`` (default:
    the process environment); their values are hashed, never kept.
    """
    env = os.environ if environ is None else environ
    file = Path(path) if path is not None else None
    if text is None:
        if file is None:
            return GatewayConfig()
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayConfigError(file, None, f"cannot read the file: {exc}") from None
    try:
        data = parse_toml(text)
    except TOMLParseError as exc:
        raise GatewayConfigError(file, exc.line, exc.problem) from None
    read = _Reader(file, text)
    unknown = sorted(set(data) - _TOP)
    if unknown:
        read.fail(None, unknown[0], f"unknown top-level key {unknown[0]!r}; known: {', '.join(sorted(_TOP))}")
    values: dict[str, Any] = {"path": file}
    _server(read, data, values)
    _upstream(read, data, values)
    _models(read, data, values)
    _limits(read, data, values)
    _keys(read, data, values, env)
    _providers(read, data, values)
    return GatewayConfig(**values)


def _server(read: _Reader, data: Mapping[str, Any], values: dict[str, Any]) -> None:
    raw = read.table(data, "server", frozenset({"host", "port", "workers", "graceful_timeout",
                                                        "max_body_bytes"}))
    host = read.string(raw, "server", "host")
    if host is not None:
        values["host"] = host
    port = read.whole(raw, "server", "port", low=0)
    if port is not None:
        if port > 65535:
            read.fail("server", "port", f"server.port must be 0-65535, got {port}")
        values["port"] = port
    workers = read.whole(raw, "server", "workers", low=1)
    if workers is not None:
        values["workers"] = workers
    values["graceful_timeout"] = read.seconds(raw, "server", "graceful_timeout", 30.0)
    size = read.whole(raw, "server", "max_body_bytes", low=1024)
    if size is not None:
        values["max_body_bytes"] = size


def _upstream(read: _Reader, data: Mapping[str, Any], values: dict[str, Any]) -> None:
    raw = read.table(data, "upstream", frozenset({"max_retries", "timeout", "fallback_on_context_length"}))
    retries = read.whole(raw, "upstream", "max_retries", low=0)
    if retries is not None:
        values["max_retries"] = retries
    values["timeout"] = read.seconds(raw, "upstream", "timeout", 600.0)
    if "fallback_on_context_length" in raw:
        flag = raw["fallback_on_context_length"]
        if not isinstance(flag, bool):
            read.fail("upstream", "fallback_on_context_length",
                      f"upstream.fallback_on_context_length must be true or false, got {flag!r}")
        values["fallback_on_context_length"] = flag


def _models(read: _Reader, data: Mapping[str, Any], values: dict[str, Any]) -> None:
    aliases = read.table(data, "models", frozenset())
    checked: dict[str, str] = {}
    for alias, target in aliases.items():
        if not isinstance(target, str) or not _model_name(target):
            read.fail("models", alias, f"models.{alias} must name a model such as 'glm/glm-4.6', got {target!r}")
        if target in aliases:
            read.fail("models", alias, f"models.{alias} = {target!r} names another alias; name the model itself")
        checked[alias] = target
    values["aliases"] = checked
    fallbacks = read.table(data, "fallbacks", frozenset())
    chains: dict[str, tuple[str, ...]] = {}
    for model, chain in fallbacks.items():
        items = read.strings(fallbacks, "fallbacks", model)
        assert items is not None
        if isinstance(chain, str):
            read.fail("fallbacks", model, f"fallbacks.{model} must be a list of models, got {chain!r}")
        chains[model] = tuple(checked.get(item, item) for item in items)
    values["fallbacks"] = chains


_UPSTREAM_LIMIT = frozenset({"provider", "model", "per_key", "max_in_flight", "rpm", "tpm", "window"})


def _limits(read: _Reader, data: Mapping[str, Any], values: dict[str, Any]) -> None:
    raw = read.table(data, "limits", frozenset({"storage", "max_wait", "on_storage_error", "upstream"}))
    storage = read.string(raw, "limits", "storage", check=lambda v: v.startswith(
        ("memory://", "redis://", "rediss://", "unix://")), hint="'memory://' or a Redis URL such as "
        "'redis://127.0.0.1:6379/0'")
    if storage is not None:
        values["storage"] = storage
    values["max_wait"] = read.seconds(raw, "limits", "max_wait", 60.0)
    mode = read.string(raw, "limits", "on_storage_error", check=lambda v: v in ("open", "closed"),
                       hint="'open' or 'closed'")
    if mode is not None:
        values["on_storage_error"] = mode
    rules = raw.get("upstream", [])
    if not isinstance(rules, list):
        read.fail("limits", "upstream", "limits.upstream must be an array of tables: write [[limits.upstream]]")
    found: list[UpstreamLimit] = []
    for index, rule in enumerate(rules):
        table = "limits.upstream"
        label = f"limits.upstream #{index + 1}:"
        if not isinstance(rule, dict):
            read.fail(table, None, f"{label} must be a table", index)
        unknown = sorted(set(rule) - _UPSTREAM_LIMIT)
        if unknown:
            read.fail(table, unknown[0], f"{label} unknown key {unknown[0]!r}; known: "
                      f"{', '.join(sorted(_UPSTREAM_LIMIT))}", index)
        counts = {name: read.whole(rule, table, name, low=1, index=index, label=label)
                  for name in ("max_in_flight", "rpm", "tpm", "window")}
        if not any(counts[name] for name in ("max_in_flight", "rpm", "tpm")):
            read.fail(table, None, f"{label} limits nothing: set max_in_flight, rpm or tpm", index)
        per_key = rule.get("per_key", False)
        if not isinstance(per_key, bool):
            read.fail(table, "per_key", f"{label} per_key must be true or false, got {per_key!r}", index)
        found.append(UpstreamLimit(
            provider=read.string(rule, table, "provider", index, label),
            model=read.string(rule, table, "model", index, label),
            per_key=per_key,
            max_in_flight=counts["max_in_flight"],
            rpm=counts["rpm"],
            tpm=counts["tpm"],
            window=counts["window"] or 60,
        ))
    values["upstream_limits"] = tuple(found)


_KEY_FIELDS = frozenset({"name", "key", "key_env", "key_sha256", "models", "rpm", "tpm", "max_in_flight", "max_wait"})


def _keys(read: _Reader, data: Mapping[str, Any], values: dict[str, Any], env: Mapping[str, str]) -> None:
    raw = data.get("keys", [])
    if not isinstance(raw, list):
        read.fail(None, "keys", "keys must be an array of tables: write each gateway key as [[keys]]")
    keys: list[GatewayKey] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for index, item in enumerate(raw):
        label = f"keys #{index + 1}:"
        if not isinstance(item, dict):
            read.fail("keys", None, f"{label} must be a table", index)
        unknown = sorted(set(item) - _KEY_FIELDS)
        if unknown:
            known = ", ".join(sorted(_KEY_FIELDS))
            read.fail("keys", unknown[0], f"{label} unknown key {unknown[0]!r}; known: {known}", index)
        name = read.string(item, "keys", "name", index, label, check=lambda v: bool(_KEY_NAME.fullmatch(v)),
                           hint="letters, digits, '.', '_' or '-'")
        if name is None:
            read.fail("keys", None, f"{label} needs a name (shown in logs and metrics instead of the key)", index)
        if name in names:
            read.fail("keys", "name", f"{label} the name {name!r} is used twice", index)
        names.add(name)
        given = [field for field in ("key", "key_env", "key_sha256") if field in item]
        if len(given) != 1:
            read.fail("keys", given[1] if len(given) > 1 else None,
                      f"{label} give exactly one of key_env (an environment variable), key_sha256 or key", index)
        digest = _key_digest(read, item, given[0], index, label, env)
        if digest in hashes:
            read.fail("keys", given[0], f"{label} the same key is configured twice", index)
        hashes.add(digest)
        limits = TenantLimits(
            rpm=read.whole(item, "keys", "rpm", low=1, index=index, label=label),
            tpm=read.whole(item, "keys", "tpm", low=1, index=index, label=label),
            max_in_flight=read.whole(item, "keys", "max_in_flight", low=1, index=index, label=label),
            max_wait=read.seconds(item, "keys", "max_wait", 0.0, index, label),
        )
        models = read.strings(item, "keys", "models", index, label) or ()
        keys.append(GatewayKey(name=name, sha256=digest, models=models, limits=limits))
    values["keys"] = tuple(keys)


def _key_digest(read: _Reader, item: Mapping[str, Any], field: str, index: int, label: str,
                env: Mapping[str, str]) -> str:
    if field == "key_sha256":
        digest = read.string(item, "keys", field, index, label, check=lambda v: bool(
            re.fullmatch(r"[0-9a-fA-F]{64}", v)), hint="64 hex digits (sha256sum of the key)")
        assert digest is not None
        return digest.lower()
    if field == "key_env":
        name = read.string(item, "keys", field, index, label, check=lambda v: bool(_ENV_NAME.fullmatch(v)),
                           hint="an environment variable name")
        assert name is not None
        value = env.get(name, "")
        if not value:
            read.fail("keys", field, f"{label} the environment variable {name} is not set (it holds the key)", index)
        return hash_key(value)
    key = read.string(item, "keys", field, index, label)
    assert key is not None
    if len(key) < 16:
        read.fail("keys", field, f"{label} a gateway key must be at least 16 characters long", index)
    return hash_key(key)


def _providers(read: _Reader, data: Mapping[str, Any], values: dict[str, Any]) -> None:
    raw = data.get("providers", {})
    if not isinstance(raw, dict):
        read.fail(None, "providers", "providers must be a table of tables: write [providers.glm]")
    found: list[ProviderKeys] = []
    for provider, table in raw.items():
        name = f"providers.{provider}"
        if not isinstance(table, dict):
            read.fail(None, "providers", f"{name} must be a table", None)
        unknown = sorted(set(table) - {"api_key_env"})
        if unknown:
            read.fail(name, unknown[0], f"{name}: unknown key {unknown[0]!r}; known: api_key_env")
        envs = read.strings(table, name, "api_key_env")
        if envs is None:
            read.fail(name, None, f"{name}: set api_key_env to the environment variable(s) holding its key(s)")
        for env_name in envs:
            if not _ENV_NAME.fullmatch(env_name):
                read.fail(name, "api_key_env", f"{name}.api_key_env {env_name!r} is not an environment variable name")
        found.append(ProviderKeys(provider=provider, api_key_env=envs))
    values["provider_keys"] = tuple(found)


def fail_unknown_models(config: GatewayConfig, known: Callable[[str], object]) -> None:
    """Check that every alias target and fallback routes to an installed provider.

    ``known(name)`` raises (e.g. :class:`chatplug.ModelNotFoundError`) for a
    name no provider claims; the error becomes a :class:`GatewayConfigError`
    on the line of the alias or fallback.
    """
    read = _Reader(config.path, config.path.read_text(encoding="utf-8") if config.path else "")
    for alias, target in config.aliases.items():
        try:
            known(target)
        except Exception as exc:  # noqa: BLE001 - any routing failure is a config error here
            read.fail("models", alias, f"models.{alias}: {exc}")
    for model, chain in config.fallbacks.items():
        for name in (config.aliases.get(model, model), *chain):
            try:
                known(name)
            except Exception as exc:  # noqa: BLE001
                read.fail("fallbacks", model, f"fallbacks.{model}: {exc}")
    for keys in config.provider_keys:
        try:
            known(f"{keys.provider}/x")
        except Exception as exc:  # noqa: BLE001
            read.fail(f"providers.{keys.provider}", None, f"providers.{keys.provider}: {exc}")
