"""Test helpers for chatplug users and provider authors.

Import this only from tests: it is not loaded by ``import chatplug``.

- :class:`FakeServer`: a real HTTP server on 127.0.0.1 speaking the
  chat-completions wire format, with scripted replies and injected faults.
- :class:`Reply`: one scripted reply.
"""

from chatplug.testing._server import FakeServer, RecordedRequest, Reply, sse_events

__all__ = ["FakeServer", "RecordedRequest", "Reply", "sse_events"]
