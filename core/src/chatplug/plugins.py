"""Finding, loading and registering plugins, safely and lazily.

Plugins are found through the ``chatplug`` entry-point group. Nothing is
scanned at ``import chatplug``: the default registry loads on first use. A
plugin that fails to import or register is recorded (see
:func:`plugin_failures`) and the others keep working, unless strict mode is on.

Environment variables:

- ``CHATPLUG_PLUGINS``: comma-separated entry-point names to load; others are skipped.
- ``CHATPLUG_DISABLE_PLUGINS``: comma-separated entry-point names never to load.
- ``CHATPLUG_STRICT_PLUGINS=1``: a plugin that fails raises :class:`~chatplug.PluginError`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FunctionType, MethodType, ModuleType
from typing import TYPE_CHECKING, Any

import attr
import pluggy

from chatplug import hookspecs
from chatplug.errors import ModelNotFoundError, PluginError
from chatplug.provider import Provider

if TYPE_CHECKING:
    from chatplug._plugin_failure import PluginFailure

__all__ = [
    "PluginFailure",
    "PluginRegistry",
    "default_registry",
    "plugin_failures",
    "providers",
    "register_plugin",
]

logger = logging.getLogger("chatplug")

ENTRY_POINT_GROUP = "chatplug"
ENV_ALLOW = "CHATPLUG_PLUGINS"
ENV_BLOCK = "CHATPLUG_DISABLE_PLUGINS"
ENV_STRICT = "CHATPLUG_STRICT_PLUGINS"
#: Environment variable naming the providers file (see :mod:`chatplug.config`).
ENV_CONFIG = "CHATPLUG_CONFIG"
#: The plugin name the providers file's providers are registered under.
CONFIG_PLUGIN_NAME = "config"


def _failure(name: str, distribution: str | None, version: str | None, error: str) -> PluginFailure:
    """A :class:`PluginFailure` record; its class is created with the first one."""
    from chatplug._plugin_failure import PluginFailure

    return PluginFailure(name=name, distribution=distribution, version=version, error=error)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the providers file is looked for (it need not exist): ``$CHATPLUG_CONFIG``, else
    ``$XDG_CONFIG_HOME/chatplug/providers.toml`` (``$HOME/.config`` when that is unset),
    read from ``environ`` (default: the process environment).

    Also :func:`chatplug.config.config_path`; it lives here so that a registry can
    tell there is no file without importing :mod:`chatplug.config`.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "chatplug" / "providers.toml"


_ABSENT: Any = object()


def _certainly_no_hook(namespace: object, name: str, marker: str) -> bool:
    """Whether attribute ``name`` of ``namespace`` is certainly not a hook marked with ``marker``.

    Only a plain module is judged, from its ``__dict__``: a function without
    the marker attribute, or a value that is no function, method, static or
    class method, is never a hook by pluggy's own rule. Anything else
    (classes, instances, marked functions) is left to pluggy.
    """
    if type(namespace) is not ModuleType:
        return False
    value = namespace.__dict__.get(name, _ABSENT)
    if value is _ABSENT:
        return False
    if type(value) is FunctionType:
        return marker not in value.__dict__ and "__func__" not in value.__dict__
    return not isinstance(value, (MethodType, staticmethod, classmethod))


class _PluginManager(pluggy.PluginManager):
    """pluggy's plugin manager, quicker at registering modules.

    ``register()`` and ``add_hookspecs()`` look at every name ``dir()`` lists,
    each through ``inspect.getattr_static``; in a module (the core's defaults,
    GLM's and Kimi's plugins) most of them are imports and constants. Those
    are ruled out from the module's ``__dict__`` first (:func:`_certainly_no_hook`),
    which halves the cost of registering a module (about 0.2 ms per client).
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's, after the quick test."""
        if _certainly_no_hook(plugin, name, self.project_name + "_impl"):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> pluggy.HookspecOpts | None:
        """pluggy's, after the quick test."""
        if _certainly_no_hook(module_or_class, name, self.project_name + "_spec"):
            return None
        return super().parse_hookspec_opts(module_or_class, name)


def _names(value: str | None) -> frozenset[str] | None:
    if value is None or not value.strip():
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


class PluginRegistry:
    """A pluggy plugin manager plus the providers its plugins declare.

    ``PluginRegistry()`` loads installed entry points on first use; pass
    ``load_entrypoints=False`` for an isolated registry (tests, embedding) and
    add plugins with :meth:`register`. ``strict=True`` (or
    ``CHATPLUG_STRICT_PLUGINS=1``) turns load failures into errors.
    """

    def __init__(
        self,
        *,
        load_entrypoints: bool = True,
        strict: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self.strict = self._environ.get(ENV_STRICT, "") in ("1", "true", "yes") if strict is None else strict
        self.pm: pluggy.PluginManager = _PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        from chatplug import _defaults

        self.pm.register(_defaults, name="chatplug.defaults")
        self._load_entrypoints = load_entrypoints
        self._loaded = False
        self._lock = threading.RLock()
        self._failures: list[PluginFailure] = []
        self._providers: dict[str, Provider] = {}
        self._clashes: dict[str, str] = {}
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._filtered: list[str] = []

    # ------------------------------------------------------------- loading

    def load(self) -> None:
        """Load entry-point plugins now (otherwise done on first use). Idempotent."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._load_entrypoints:
                self._load_entry_points()
                self._load_config_providers()
            self._collect_providers()
            # Only now: another thread sees "loaded" with the providers in place, and a
            # strict-mode failure above leaves it unloaded, so the next use raises again.
            self._loaded = True

    def _allowed(self, name: str) -> bool:
        """Whether ``CHATPLUG_PLUGINS`` / ``CHATPLUG_DISABLE_PLUGINS`` let plugin ``name`` load."""
        allow = _names(self._environ.get(ENV_ALLOW))
        block = _names(self._environ.get(ENV_BLOCK)) or frozenset()
        return name not in block and (allow is None or name in allow)

    def _load_entry_points(self) -> None:
        from chatplug import _entrypoints  # on first use only: `import chatplug` scans nothing

        for ep in _entrypoints.entry_points(ENTRY_POINT_GROUP):
            if not self._allowed(ep.name):
                logger.debug("plugin %r skipped by %s/%s", ep.name, ENV_ALLOW, ENV_BLOCK)
                if ep.name not in self._filtered:
                    self._filtered.append(ep.name)
                continue
            dist, version = ep.dist_name, ep.dist_version
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
                self._fail(ep.name, dist, version, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self._register(plugin, ep.name, dist, version)

    def _load_config_providers(self) -> None:
        """Providers declared in the TOML file (see :mod:`chatplug.config`), reported like a plugin.

        Without a file (and none named), :mod:`chatplug.config` is not even imported.
        """
        if not self._allowed(CONFIG_PLUGIN_NAME):
            return
        if not self._environ.get(ENV_CONFIG) and not config_path(self._environ).is_file():
            return
        from chatplug import config

        try:
            plugin = config.load_plugin(self._environ)
        except config.ConfigError as exc:
            where = f"line {exc.line}: " if exc.line is not None else ""
            self._fail(config.PLUGIN_NAME, str(exc.path), None, where + exc.problem, exc)
            return
        if plugin is not None:
            self._register(plugin, config.PLUGIN_NAME, str(plugin.path), None)

    def _register(self, plugin: object, name: str, dist: str | None, version: str | None) -> None:
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors and others
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, dist, version, f"registration failed: {type(exc).__name__}: {exc}", exc)
        else:
            self._dists[name] = (dist, version)

    def _fail(self, name: str, dist: str | None, version: str | None, error: str, exc: BaseException) -> None:
        failure = _failure(name, dist, version, error)
        if self.strict:
            raise PluginError(str(failure)) from exc
        logger.warning("%s", failure)
        self._failures.append(failure)

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object (a module or an instance with hook
        implementations) at run time, without entry points.

        Raises :class:`~chatplug.PluginError` if it does not fit the hook specs
        or declares a provider id that is already taken.
        """
        self.load()
        with self._lock:
            plugin_name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
            try:
                self.pm.register(plugin, name=plugin_name)
                self.pm.check_pending()
            except Exception as exc:
                if self.pm.is_registered(plugin):
                    self.pm.unregister(plugin)
                raise PluginError(f"plugin {plugin_name!r} could not be registered: {exc}") from exc
            self._dists[plugin_name] = (None, None)
            known_clashes = set(self._clashes)
            failures = len(self._failures)
            try:
                self._collect_providers()
                clash = next((pid for pid in self._clashes if pid not in known_clashes), None)
                if clash is not None:
                    raise PluginError(self._clashes[clash])
            except PluginError:
                self.pm.unregister(plugin)
                del self._failures[failures:]
                self._collect_providers()
                raise

    def unregister(self, plugin: object) -> None:
        """Remove a plugin registered with :meth:`register`."""
        with self._lock:
            self.pm.unregister(plugin)
            self._collect_providers()

    def _collect_providers(self) -> None:
        found: dict[str, Provider] = {}
        owners: dict[str, str] = {}
        clashes: dict[str, str] = {}
        bad_plugins: list[tuple[object, str]] = []
        for impl in self.pm.hook.chatplug_providers.get_hookimpls():
            plugin_name = impl.plugin_name
            dist, version = self._dists.get(plugin_name, (None, None))
            try:
                result = impl.function()
                declared = _as_providers(result)
            except Exception as exc:  # noqa: BLE001
                bad_plugins.append((impl.plugin, plugin_name))
                self._fail(plugin_name, dist, version, f"chatplug_providers failed: {type(exc).__name__}: {exc}", exc)
                continue
            for provider in declared:
                provider = attr.evolve(provider, distribution=provider.distribution or dist or plugin_name,
                                        version=provider.version or version)
                if provider.id in found or provider.id in clashes:
                    first = owners.get(provider.id, "?")
                    message = (
                        f"provider id {provider.id!r} is declared by both {first} and "
                        f"{provider.distribution}; uninstall one, or block one with {ENV_BLOCK}"
                    )
                    if self.strict:
                        raise PluginError(message)
                    clashes[provider.id] = message
                    found.pop(provider.id, None)
                    continue
                found[provider.id] = provider
                owners[provider.id] = provider.distribution or plugin_name
        for plugin, _ in bad_plugins:
            self.pm.unregister(plugin)
        for pid, message in clashes.items():
            if pid not in self._clashes:
                logger.warning("%s", message)
                self._failures.append(_failure(pid, None, None, message))
        self._providers = found
        self._clashes = clashes

    # ------------------------------------------------------------- queries

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``registry.hook.chatplug_...``), after loading."""
        self.load()
        return self.pm.hook

    def failures(self) -> list[PluginFailure]:
        """Plugins that failed to load or register, with their distribution and error."""
        self.load()
        return list(self._failures)

    def filtered_out(self) -> list[str]:
        """Installed entry-point plugins left unloaded by ``CHATPLUG_PLUGINS`` /
        ``CHATPLUG_DISABLE_PLUGINS``, by entry-point name."""
        self.load()
        return sorted(self._filtered)

    def filter_note(self) -> str | None:
        """What the plugin filters leave out, e.g. ``"plugin kimi is installed but
        CHATPLUG_PLUGINS=glm leaves it out"``; ``None`` when nothing is filtered out."""
        filtered = self.filtered_out()
        if not filtered:
            return None
        settings = [f"{name}={self._environ[name]}" for name in (ENV_ALLOW, ENV_BLOCK) if self._environ.get(name)]
        which = f"plugin {filtered[0]} is" if len(filtered) == 1 else f"plugins {', '.join(filtered)} are"
        return f"{which} installed but {' and '.join(settings)} {'leaves' if len(settings) == 1 else 'leave'} " + (
            "it out" if len(filtered) == 1 else "them out"
        )

    def no_providers_message(self) -> str:
        """Why there is no provider, and what would give one.

        It names no ``pip install`` command: the provider distributions are not
        on a package index, so such a command could not work. When plugins are
        installed but filtered out, it says that instead.
        """
        note = self.filter_note()
        if note is not None:
            return f"no providers loaded: {note}"
        return (
            "no providers installed: install a provider plugin (a distribution with a 'chatplug' entry point, "
            f"such as chatplug-glm or chatplug-kimi from the chatplug sources), or declare an OpenAI-compatible "
            f"server in {config_path(self._environ)}"
        )

    def providers(self) -> dict[str, Provider]:
        """Every loaded provider, by id."""
        self.load()
        return dict(self._providers)

    def provider(self, provider_id: str) -> Provider:
        """The provider with this id; :class:`~chatplug.ModelNotFoundError` if none."""
        self.load()
        provider = self._providers.get(provider_id)
        if provider is not None:
            return provider
        if provider_id in self._clashes:
            raise PluginError(self._clashes[provider_id])
        raise ModelNotFoundError(
            f"no installed provider has id {provider_id!r}; installed providers: {self._installed()}",
            model=provider_id,
            providers=tuple(sorted(self._providers)),
        )

    def _installed(self) -> str:
        """The loaded provider ids, with what the plugin filters left out, or why there are none."""
        note = self.filter_note()
        if self._providers:
            return ", ".join(sorted(self._providers)) + (f" ({note})" if note else "")
        if note:
            return f"none ({note})"
        return "none (install a provider plugin, or pass base_url= for any OpenAI-compatible server)"

    def resolve_model(self, model: str) -> tuple[Provider, str]:
        """Route ``model`` (``provider/model`` or a bare name) to ``(provider, model name)``.

        A bare name must be claimed by exactly one provider.
        """
        self.load()
        prefix, sep, rest = model.partition("/")
        if sep and rest and (prefix in self._providers or prefix in self._clashes):
            return self.provider(prefix), rest
        claimants = [p for p in self._providers.values() if p.claims(model)]
        if len(claimants) == 1:
            return claimants[0], model
        if not claimants:
            choose = f" Write it as 'provider/{model}' to choose one." if self._providers else ""
            raise ModelNotFoundError(
                f"no installed provider claims model {model!r}; installed providers: {self._installed()}.{choose}",
                model=model,
                providers=tuple(sorted(self._providers)),
            )
        names = ", ".join(sorted(p.id for p in claimants))
        raise ModelNotFoundError(
            f"model {model!r} is claimed by several providers ({names}); write it as 'provider/{model}'",
            model=model,
            providers=tuple(sorted(p.id for p in claimants)),
        )


def _as_providers(result: object) -> Iterable[Provider]:
    if result is None:
        return ()
    items = [result] if isinstance(result, Provider) else list(result)  # type: ignore[call-overload]
    for item in items:
        if not isinstance(item, Provider):
            raise TypeError(f"expected chatplug.Provider records, got {type(item).__name__}")
    return items


_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> PluginRegistry:
    """The process-wide registry every client uses unless given another."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PluginRegistry()
    return _default


def plugin_failures() -> list[PluginFailure]:
    """Plugins of the default registry that failed to load, with the error of each."""
    return default_registry().failures()


def providers() -> dict[str, Provider]:
    """Every provider of the default registry, by id."""
    return default_registry().providers()


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin object with the default registry (no entry point needed)."""
    default_registry().register(plugin, name)


def __getattr__(name: str) -> Any:
    """``PluginFailure`` is created on first use (PEP 562): a process whose plugins all load
    never needs it, and creating an attrs class costs about 0.25 ms (see :mod:`chatplug.types`)."""
    if name == "PluginFailure":
        from chatplug._plugin_failure import PluginFailure

        globals()["PluginFailure"] = PluginFailure
        return PluginFailure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
