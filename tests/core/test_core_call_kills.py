"""Exact tests of a call's refusals and of the errors of fallbacks, key pools and
limits, written to kill mutants that survived ``tox -e mutation`` (see
docs/mutation.md): each error is checked for its class, its whole message and
every attribute a caller reads, over a real loopback server."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import API_KEY, MESSAGES, TEST_PROVIDER, ProviderPlugin, SleepRecorder, chunk, completion_body

CANNOT_CARRY = "has a character HTTP headers cannot carry"


def fp(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# ------------------------------------------------------------- headers HTTP cannot carry


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Ok": "fine", "x-a\n": "v"}, f"the name of extra_headers['x-a\\n'] {CANNOT_CARRY} (U+000A at position 3)"),
        ({"x-\x7f": "v"}, f"the name of extra_headers['x-\\x7f'] {CANNOT_CARRY} (U+007F at position 2)"),
        ({"X-Note": "two\r\nlines"}, f"the value of extra_headers['X-Note'] {CANNOT_CARRY} (U+000D at position 3)"),
        ({"X-Note": "caf\u00e9"}, f"the value of extra_headers['X-Note'] {CANNOT_CARRY} (U+00E9 at position 3)"),
    ],
    ids=["name-newline", "name-delete", "value-crlf", "value-non-ascii"],
)
def test_a_header_http_cannot_carry_is_named_exactly(
    client: chatplug.Client, server: FakeServer, headers: dict[str, str], message: str
) -> None:
    """Whether the name or the value is bad, which character and where; the value itself is never shown."""
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers=headers)
    assert str(caught.value) == f"testprov: {message}"
    assert (caught.value.param, caught.value.provider) == ("extra_headers", "testprov")
    assert "lines" not in str(caught.value) and "caf" not in str(caught.value)
    assert server.requests == []


def test_a_non_ascii_header_name_is_shown_as_the_python_literal_of_that_name(
    client: chatplug.Client, server: FakeServer
) -> None:
    """The message stays ASCII, and what it shows reads back as the name given (one backslash, not two)."""
    with pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers={"x-caf\u00e9": "v"})
    assert str(caught.value) == (
        f"testprov: the name of extra_headers['x-caf\\xe9'] {CANNOT_CARRY} (U+00E9 at position 5)"
    )
    assert str(caught.value).isascii()
    assert (caught.value.param, caught.value.provider) == ("extra_headers", "testprov")
    assert server.requests == []


def test_a_default_header_http_cannot_carry_is_named_as_a_default_header(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         default_headers={"X-Team": "\u00e9quipe"}) as client, \
            pytest.raises(chatplug.InvalidRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert str(caught.value) == (
        f"testprov: the value of default_headers['X-Team'] {CANNOT_CARRY} (U+00E9 at position 0)"
    )
    assert (caught.value.param, caught.value.provider) == ("default_headers", "testprov")
    assert server.requests == []


# ------------------------------------------------------------- what is scrubbed from errors


TOKENS = {"sk-pool-key-one-000000000001": "tok-0001", "sk-pool-key-two-000000000002": "tok-0002"}


class ShortTokens:
    """A credentials hook that sends a short token looked up from the key, not the key itself."""

    @chatplug.hookimpl
    def chatplug_credentials(self, provider: chatplug.Provider, api_key: str | None) -> dict[str, str] | None:
        if provider.id != "testprov" or api_key is None:
            return None
        return {"Authorization": f"Token {TOKENS[api_key]}"}


def test_an_eight_character_word_of_a_credential_is_scrubbed_and_a_shorter_one_is_not(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    """Each word of 8 characters or more of a credential header is a secret (the token after a scheme),
    for the key a pool moves on to as for the first;
    shorter words, like the scheme, are left alone so that ordinary text stays readable."""
    registry.register(ShortTokens(), "short-tokens")
    keys = list(TOKENS)
    server.add(Reply.error(401, {"error": {"message": "unknown token"}}),  # takes the first key out
               Reply.error(400, {"error": {"message": "Token scheme refused: tok-0002 is not valid here"}}))
    with chatplug.Client(provider="testprov", api_key=keys, base_url=server.base_url, registry=registry) as client, \
            pytest.raises(chatplug.BadRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert [r.headers["authorization"] for r in server.requests] == ["Token tok-0001", "Token tok-0002"]
    assert str(caught.value) == "testprov, HTTP 400: Token scheme refused: *** is not valid here"
    assert caught.value.body == {"error": {"message": "Token scheme refused: *** is not valid here"}}


# ------------------------------------------------------------- a model's own rule


def test_a_model_rule_refusal_names_the_model_it_belongs_to(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    catalog = chatplug.ModelCatalog(models={"t-notools": chatplug.ModelInfo(tools=False)})
    provider = attrs.evolve(TEST_PROVIDER, id="ruleprov", base_url=server.base_url, catalog=catalog)
    registry.register(ProviderPlugin(provider), "rule-provider")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    with chatplug.Client(provider="ruleprov", api_key=API_KEY, registry=registry) as client, \
            pytest.raises(chatplug.ModelRuleError) as caught:
        client.chat.completions.create(model="t-notools", messages=MESSAGES, tools=tools)
    error = caught.value
    assert type(error) is chatplug.ModelRuleError
    assert (error.model, error.param, error.provider, error.model_specific) == ("t-notools", "tools", "ruleprov", True)
    assert str(error).startswith("ruleprov: ")
    assert server.requests == []


# ------------------------------------------------------------- every model of a chain failed


def test_when_every_model_fails_the_error_lists_each_model_with_its_error(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.error(500, {"error": {"message": "boom"}}), Reply.error(503, {"error": {"message": "down"}}))
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         max_retries=0) as client, pytest.raises(chatplug.AllModelsFailedError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES, fallbacks=["t-2"])
    error = caught.value
    assert str(error) == (
        "all 2 models failed: "
        "testprov/t-1: InternalServerError: testprov, HTTP 500: boom; "
        "testprov/t-2: InternalServerError: testprov, HTTP 503: down"
    )
    assert error.models == ("testprov/t-1", "testprov/t-2")
    assert [(type(e), e.status_code) for e in error.errors] == [  # type: ignore[attr-defined]
        (chatplug.InternalServerError, 500), (chatplug.InternalServerError, 503)]
    assert error.__cause__ is error.errors[-1]
    assert [r.json()["model"] for r in server.requests] == ["t-1", "t-2"]


def test_an_all_models_failed_error_built_with_fewer_names_than_errors_still_builds() -> None:
    """An error class must not raise while a failure is being reported: a host app's own chain
    (or a test double) that lost a model's name still gets its error, with the pairs it has."""
    errors = (chatplug.APIConnectionError("refused"), chatplug.APITimeoutError("slow"))
    error = chatplug.AllModelsFailedError(errors, ("a/m1",))
    assert str(error) == "all 2 models failed: a/m1: APIConnectionError: refused"
    assert error.errors == errors
    assert error.models == ("a/m1",)


# ------------------------------------------------------------- a key pool with no key left


def test_a_pool_with_every_key_taken_out_says_which_provider_and_why(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    keys = ["sk-pool-out-one-0000000000001", "sk-pool-out-two-0000000000002"]
    server.add(Reply.error(401, {"error": {"message": "bad key"}}), Reply.error(401, {"error": {"message": "bad key"}}))
    with chatplug.Client(provider="testprov", api_key=keys, base_url=server.base_url, registry=registry) as client:
        client._sleep = SleepRecorder()
        with pytest.raises(chatplug.AuthenticationError):
            client.chat.completions.create(model="t-1", messages=MESSAGES)
        with pytest.raises(chatplug.KeyPoolExhaustedError) as caught:
            client.chat.completions.create(model="t-1", messages=MESSAGES)
    reason = "AuthenticationError, HTTP 401"
    assert str(caught.value) == (
        f"testprov: every key of the pool was taken out: {fp(keys[0])} ({reason}), {fp(keys[1])} ({reason}); "
        "give the client working keys"
    )
    assert caught.value.provider == "testprov"
    assert caught.value.removed == {fp(keys[0]): reason, fp(keys[1]): reason}
    assert len(server.requests) == 2


# ------------------------------------------------------------- a shared limit stayed full


def test_a_limit_that_stays_full_names_the_limit_and_the_time_waited(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    server.add(Reply.sse([chunk({"content": "a"}), chunk({}, finish_reason="stop")]))
    limiter = chatplug.Limiter([chatplug.RateLimit(provider="testprov", max_in_flight=1)], max_wait=0)
    with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=server.base_url, registry=registry,
                         limiter=limiter) as client, \
            client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True), \
            pytest.raises(chatplug.LimitWaitTimeoutError) as caught:  # the open stream holds the one slot
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    error = caught.value
    assert (error.provider, error.limit) == ("testprov", "testprov: max_in_flight=1")
    assert type(error.waited) is float and error.waited >= 0.0
    assert str(error) == (
        f"testprov: waited {error.waited:.1f}s for testprov: max_in_flight=1; the limit stays full past max_wait=0s"
    )
    assert len(server.requests) == 1


def test_a_limit_wait_timeout_built_with_a_message_only_has_empty_details() -> None:
    """The documented defaults, for a host app's own limiter that raises the same error."""
    error: Any = chatplug.LimitWaitTimeoutError("my limiter is full")
    assert str(error) == "my limiter is full"
    assert (error.provider, error.limit, error.waited) == (None, "", 0.0)
    assert type(error.waited) is float


# ------------------------------------------------------------- no provider at all


def test_with_no_provider_installed_the_error_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """No "write it as provider/model" hint when there is no provider to choose."""
    monkeypatch.delenv("CHATPLUG_PLUGINS", raising=False)
    monkeypatch.delenv("CHATPLUG_DISABLE_PLUGINS", raising=False)
    empty = chatplug.PluginRegistry(load_entrypoints=False)
    with chatplug.Client(registry=empty) as client, \
            pytest.raises(chatplug.ModelNotFoundError) as caught:
        client.chat.completions.create(model="gpt-x", messages=MESSAGES)
    assert str(caught.value) == (
        "no installed provider claims model 'gpt-x'; installed providers: none (install a provider plugin, "
        "or pass base_url= for any OpenAI-compatible server)."
    )
    assert (caught.value.model, caught.value.providers) == ("gpt-x", ())


def test_with_providers_installed_an_unclaimed_model_gets_the_provider_slash_model_hint(
    registry: chatplug.PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATPLUG_PLUGINS", raising=False)
    monkeypatch.delenv("CHATPLUG_DISABLE_PLUGINS", raising=False)
    with pytest.raises(chatplug.ModelNotFoundError) as caught:
        registry.resolve_model("gpt-x")
    assert str(caught.value) == (
        "no installed provider claims model 'gpt-x'; installed providers: testprov. "
        "Write it as 'provider/gpt-x' to choose one."
    )
    assert (caught.value.model, caught.value.providers) == ("gpt-x", ("testprov",))


def test_a_completion_still_goes_through_after_the_refusals(client: chatplug.Client, server: FakeServer) -> None:
    """The refusals above leave the client usable (a control for this file's fixtures)."""
    server.add(Reply.json(completion_body("fine")))
    with pytest.raises(chatplug.InvalidRequestError):
        client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers={"x-a\n": "v"})
    reply = client.chat.completions.create(model="t-1", messages=MESSAGES, extra_headers={"X-Ok": "fine"})
    assert reply.choices[0].message.content == "fine"
    assert server.last_request.headers["x-ok"] == "fine"


# ------------------------------------------------------------- a 200 that is not a completion


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, "none"),
        ({f"f{n:02d}": n for n in range(13)}, ", ".join(f"f{n:02d}" for n in range(12))),
    ],
    ids=["empty-object", "thirteen-fields"],
)
def test_a_200_body_that_is_not_a_completion_names_at_most_twelve_of_its_fields(
    client: chatplug.Client, server: FakeServer, body: dict[str, Any], fields: str
) -> None:
    """An empty object says so; a large one is named by its first twelve fields, sorted."""
    server.add(Reply.json(body))
    with pytest.raises(chatplug.APIResponseValidationError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert str(caught.value) == (
        f"testprov: the response is not a chat completion: it has no 'choices' list (its fields: {fields})"
    )
    assert caught.value.provider == "testprov"
    assert caught.value.body == body
    assert len(server.requests) == 1
