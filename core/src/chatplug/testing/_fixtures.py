"""The pytest plugin: fixtures for tests that use chatplug.

Opt in from a ``conftest.py`` (it is never loaded automatically)::

    pytest_plugins = ["chatplug.testing"]

Fixtures:

- ``chatplug_registry``: an isolated :class:`~chatplug.PluginRegistry` that
  loads no installed plugin and reads no config file; register yours with
  ``chatplug_registry.register(plugin)``.
- ``chatplug_env``: the environment with every provider key, base-URL override
  and ``CHATPLUG_*`` variable removed (by name pattern, and every variable an
  installed provider names in its ``api_key_env`` or ``base_url_env``, such as
  ``ACME_TOKEN``), and the providers config file pointed at an empty place.
  It is a :class:`pytest.MonkeyPatch`: ``chatplug_env.setenv(...)``.
- ``fake_server``: a running :class:`~chatplug.testing.FakeServer`, stopped
  after the test. Works from sync and async tests (it runs in its own thread).
- ``chatplug_cassette``: a :class:`~chatplug.testing.Cassette` active for the
  test: the chatplug calls it makes are replayed from
  ``cassettes/<module>/<test>.json`` next to the test file (or the path given
  with ``@pytest.mark.chatplug_cassette("path.json", match_on=..., ...)``).
  Nothing is recorded unless asked: ``pytest --chatplug-record=once|new|all``
  or ``CHATPLUG_RECORD=...``; an unmatched request fails the test.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

import pytest

from chatplug.plugins import PluginRegistry
from chatplug.provider import Provider
from chatplug.testing._cassette import RECORD_MODES, Cassette
from chatplug.testing._server import FakeServer

__all__ = [
    "SCRUBBED_ENV_PATTERN",
    "chatplug_cassette",
    "pytest_addoption",
    "pytest_configure",
    "chatplug_env",
    "chatplug_registry",
    "fake_server",
    "provider_env_names",
    "scrub_environment",
]

#: Environment variable names removed by ``chatplug_env``: API keys and tokens,
#: base-URL overrides, and chatplug's own settings.
SCRUBBED_ENV_PATTERN = re.compile(r"(_API_KEY|_API_TOKEN|_ACCESS_TOKEN|_BASE_URL)$|^CHATPLUG_")


def provider_env_names(providers: Iterable[Provider]) -> set[str]:
    """Every variable the providers read: their ``api_key_env`` names and ``base_url_env``."""
    names: set[str] = set()
    for provider in providers:
        names.update(provider.api_key_env)
        if provider.base_url_env:
            names.add(provider.base_url_env)
    return names


@functools.lru_cache(maxsize=1)
def _installed_provider_env_names() -> frozenset[str]:
    """The variables named by installed providers (entry points and the user's config file)."""
    chatplug_logger = logging.getLogger("chatplug")
    was_disabled = chatplug_logger.disabled
    chatplug_logger.disabled = True  # a broken plugin is the test's business, not this fixture's
    try:
        return frozenset(provider_env_names(PluginRegistry(strict=False).providers().values()))
    except Exception:  # noqa: BLE001 - scrubbing by pattern still happens
        return frozenset()
    finally:
        chatplug_logger.disabled = was_disabled


def scrub_environment(monkeypatch: pytest.MonkeyPatch, config_dir: Path, names: Iterable[str] = ()) -> list[str]:
    """Remove provider keys, base-URL overrides and ``CHATPLUG_*`` variables
    from ``os.environ`` (restored by ``monkeypatch``), and point the providers
    config file at ``config_dir``. Returns the names removed.

    A variable is removed when its name matches :data:`SCRUBBED_ENV_PATTERN` or
    is one of ``names`` (give a provider's own: see :func:`provider_env_names`).
    """
    extra = set(names)
    removed = sorted(name for name in os.environ if SCRUBBED_ENV_PATTERN.search(name) or name in extra)
    for name in removed:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_dir))
    return removed


@pytest.fixture
def chatplug_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The environment scrubbed of provider keys; set what a test needs with ``.setenv``."""
    scrub_environment(monkeypatch, tmp_path / "xdg-config", _installed_provider_env_names())
    return monkeypatch


@pytest.fixture
def chatplug_registry() -> PluginRegistry:
    """An isolated plugin registry: no installed plugin, no config file, strict loading."""
    return PluginRegistry(load_entrypoints=False, strict=True)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running FakeServer on 127.0.0.1 (ephemeral port), stopped after the test."""
    with FakeServer() as server:
        yield server


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--chatplug-record``: the record mode of ``chatplug_cassette`` (default: ``CHATPLUG_RECORD``, else none)."""
    parser.addoption(
        "--chatplug-record", choices=RECORD_MODES, default=None, dest="chatplug_record",
        help="chatplug cassettes: none (replay only, the default), once (record missing cassettes), "
             "new (also record unmatched calls), all (record everything again). Env: CHATPLUG_RECORD.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``chatplug_cassette`` marker."""
    config.addinivalue_line(
        "markers", "chatplug_cassette(path=None, *, record_mode=None, match_on=..., ignore_body_fields=..., "
                   "allow_repeats=False): where and how chatplug_cassette records and replays this test's calls",
    )


#: Set on a test item whose call phase failed, so the cassette fixture does not report the same mismatch twice.
_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note a failed test body (read by ``chatplug_cassette``'s teardown)."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


def _cassette_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", node_name).strip("-")


@pytest.fixture
def chatplug_cassette(request: pytest.FixtureRequest) -> Iterator[Cassette]:
    """Record this test's chatplug calls once; replay them after, with no key and no network."""
    marker = request.node.get_closest_marker("chatplug_cassette")
    args = marker.args if marker else ()
    options = dict(marker.kwargs) if marker else {}
    test_file = Path(str(request.node.path))
    path = Path(args[0]) if args else Path(options.pop("path", "")) if options.get("path") else None
    if path is None:
        path = test_file.parent / "cassettes" / test_file.stem / f"{_cassette_name(request.node.name)}.json"
    elif not path.is_absolute():
        path = test_file.parent / path
    mode = options.pop("record_mode", None)
    if mode is None:
        try:
            mode = request.config.getoption("chatplug_record")
        except ValueError:  # the plugin's options were not registered (fixture imported by name)
            mode = None
    mode = mode or os.environ.get("CHATPLUG_RECORD") or "none"
    options.pop("path", None)
    cassette = Cassette(path, record_mode=mode, **options)
    with cassette:
        yield cassette
    if cassette.errors and not request.node.stash.get(_CALL_FAILED, False):  # the app swallowed the mismatch
        pytest.fail("\n\n".join(cassette.errors), pytrace=False)
