"""A key set through default_headers or extra_headers (a host app that does its
own auth, or a keyless local server behind a gateway) is a key all the same:
observers see it redacted, and an error body that echoes it is scrubbed."""

from __future__ import annotations

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, completion_body

HEADER_KEY = "sk-header-route-9d2c71e04b5a"
EXTRA_KEY = "sk-extra-route-41f8aa0c7e93"


class Seen:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.headers.append(dict(request.headers))


def test_a_key_the_app_sets_itself_on_a_plain_server_is_redacted_for_observers(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    """A keyless Client(base_url=...) sends no auth of its own; the app's own Authorization is still a key."""
    seen = Seen()
    registry.register(seen, "seen")
    server.add(Reply.json(completion_body("ok")))
    with chatplug.Client(base_url=server.base_url, registry=registry,
                         default_headers={"Authorization": f"Bearer {HEADER_KEY}", "X-App": "host"}) as client:
        client.chat.completions.create(model="local-model", messages=MESSAGES)
    assert server.requests[0].headers["authorization"] == f"Bearer {HEADER_KEY}"  # the server still gets it
    [event_headers] = seen.headers
    assert (event_headers["Authorization"], event_headers["X-App"]) == ("***", "host")


def test_a_proxy_key_in_extra_headers_is_redacted_next_to_the_providers_key(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    seen = Seen()
    registry.register(seen, "seen")
    server.add(Reply.json(completion_body("ok")))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry) as client:
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers={"X-Api-Key": EXTRA_KEY})
    assert server.requests[0].headers["x-api-key"] == EXTRA_KEY
    [event_headers] = seen.headers
    assert (event_headers["Authorization"], event_headers["X-Api-Key"]) == ("***", "***")


def test_an_error_echoing_a_header_key_is_scrubbed(server: FakeServer, registry: chatplug.PluginRegistry) -> None:
    server.add(Reply.error(401, {"error": {"message": f"bad key {HEADER_KEY}", "type": "invalid_authentication"}}))
    with chatplug.Client(base_url=server.base_url, registry=registry,
                         default_headers={"Authorization": f"Bearer {HEADER_KEY}"}) as client, \
            pytest.raises(chatplug.AuthenticationError) as caught:
        client.chat.completions.create(model="local-model", messages=MESSAGES)
    assert HEADER_KEY not in str(caught.value)
    assert HEADER_KEY not in repr(caught.value.body)
    assert "bad key ***" in str(caught.value)
