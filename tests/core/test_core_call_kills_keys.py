"""A credential header HTTP cannot carry is refused before any I/O with an exact
message that never shows the key, whichever header it is and whatever its type.
Written to kill mutants of ``_request.check_credentials`` that ``tox -e
mutation`` left alive (see docs/mutation.md)."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer
from core_support import MESSAGES

CHECK_THE_KEY = "check the key for a stray newline, space or quote copied along with it"


class Headers:
    """A credentials hook answering with fixed headers, as a host app's vault lookup would."""

    def __init__(self, headers: dict[str, Any]) -> None:
        self.headers = headers

    @chatplug.hookimpl(tryfirst=True)
    def chatplug_credentials(self, provider: chatplug.Provider) -> dict[str, Any] | None:
        return self.headers if provider.id == "testprov" else None


def refused(server: FakeServer, registry: chatplug.PluginRegistry, api_key: str) -> chatplug.InvalidRequestError:
    with chatplug.Client(provider="testprov", api_key=api_key, base_url=server.base_url, registry=registry) as client, \
            pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert server.requests == []
    assert (caught.value.param, caught.value.provider) == ("api_key", "testprov")
    assert type(caught.value) is chatplug.InvalidRequestError
    return caught.value


def test_a_key_with_a_stray_newline_is_refused_without_showing_it(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    key = "sk-copied-with-newline-0001\n"
    error = refused(server, registry, key)
    assert str(error) == (
        "testprov: the Authorization header made from the API key has a character HTTP headers cannot carry "
        f"(U+000A at position 34); {CHECK_THE_KEY}"
    )
    assert "sk-copied" not in str(error)


def test_every_credential_header_is_checked_not_only_the_first(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    registry.register(Headers({"X-Team": "team-7", "X-Api-Key": "sk-vault-key-\u00e90001"}), "vault")
    error = refused(server, registry, "unused-key-000000000")
    assert str(error) == (
        "testprov: the X-Api-Key header made from the API key has a character HTTP headers cannot carry "
        f"(U+00E9 at position 13); {CHECK_THE_KEY}"
    )
    assert "sk-vault" not in str(error)


@pytest.mark.parametrize(("value", "kind"), [(b"sk-bytes-key-0001", "bytes"), (12345678, "int"), (None, "NoneType")])
def test_a_credential_header_that_is_not_a_string_is_refused_by_its_type(
    server: FakeServer, registry: chatplug.PluginRegistry, value: Any, kind: str
) -> None:
    registry.register(Headers({"Authorization": value}), "vault")
    error = refused(server, registry, "unused-key-000000000")
    assert str(error) == (
        f"testprov: the Authorization header made from the API key is of type {kind}, not a string; {CHECK_THE_KEY}"
    )
