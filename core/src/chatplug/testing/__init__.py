"""Test helpers for chatplug users and provider authors.

Import this only from tests: it is not loaded by ``import chatplug``.

- :class:`FakeServer`: a real HTTP server on 127.0.0.1 speaking the
  chat-completions wire format, with scripted replies and injected faults.
- :class:`Reply`: one scripted reply.
- :class:`ProviderConformance`: a test class a provider plugin's author
  subclasses, with :class:`Transcript` and :class:`ErrorSample` to point it at
  recorded data (needs pytest).

This module is also a pytest plugin (opt-in)::

    # the top-level conftest.py (pytest allows pytest_plugins only there)
    pytest_plugins = ["chatplug.testing"]

which provides the fixtures ``chatplug_registry`` (an isolated plugin
registry), ``chatplug_env`` (the environment scrubbed of provider keys),
``fake_server`` (a running :class:`FakeServer`) and ``chatplug_cassette``
(record a test's chatplug calls once, replay them after: see
``docs/cassettes.md``), and the ``--chatplug-record`` option. FakeServer,
Reply, :class:`Cassette` and :func:`use_cassette` work without pytest.

``python -m chatplug.testing record|serve|live`` records provider responses
as fixtures, serves recordings, and runs the live conformance set.
"""

from typing import TYPE_CHECKING, Any

from chatplug.testing._cassette import Cassette, CassetteMismatch, use_cassette
from chatplug.testing._record import AsyncRecordingTransport, RecordingTransport, record_call, save_fixture
from chatplug.testing._server import MALFORMED_LINE, FakeServer, RecordedRequest, Reply, sse_events

__all__ = [
    "MALFORMED_LINE",
    "AsyncRecordingTransport",
    "Cassette",
    "CassetteMismatch",
    "ErrorSample",
    "FakeServer",
    "ProviderConformance",
    "RecordedRequest",
    "RecordingTransport",
    "Reply",
    "Transcript",
    "chatplug_cassette",
    "chatplug_env",
    "chatplug_registry",
    "fake_server",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_makereport",
    "record_call",
    "save_fixture",
    "sse_events",
    "use_cassette",
]

if TYPE_CHECKING:
    from chatplug.testing._conformance import ErrorSample, ProviderConformance, Transcript
    from chatplug.testing._fixtures import (
        chatplug_cassette,
        chatplug_env,
        chatplug_registry,
        fake_server,
        pytest_addoption,
        pytest_configure,
        pytest_runtest_makereport,
    )
else:
    try:
        import pytest  # noqa: F401 - the pytest parts need it
    except ImportError:  # pragma: no cover - FakeServer alone still works

        def __getattr__(name: str) -> Any:
            if name in ("ErrorSample", "ProviderConformance", "Transcript", "chatplug_cassette"):
                raise ImportError(f"chatplug.testing.{name} needs pytest: pip install pytest")
            raise AttributeError(name)

    else:
        from chatplug.testing._conformance import ErrorSample, ProviderConformance, Transcript
        from chatplug.testing._fixtures import (
            chatplug_cassette,
            chatplug_env,
            chatplug_registry,
            fake_server,
            pytest_addoption,
            pytest_configure,
            pytest_runtest_makereport,
        )
