"""Promises the docs make that no other core test would notice breaking (issue 11).

Each test here fails when its promise is broken; the docstring of each says how.
No provider plugin is needed: plugins are the suite's own test provider or
distributions laid out in a temporary directory on ``sys.path``.
"""

from __future__ import annotations

import email.utils
import logging
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import chatplug
import pytest
from chatplug._transport import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, AsyncSleepRecorder, SleepRecorder, chunk, completion_body

KEY = "sk-custom-header-7f3a9c1e5b2d4806"
HEADER = "X-Custom-Api-Key"

#: What the backoff of the first retry can be: 0.5 s less up to 25 % jitter.
FIRST_BACKOFF = (INITIAL_RETRY_DELAY * 0.75, INITIAL_RETRY_DELAY)


def usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# ------------------------------------------------------------ usage, last wins


def test_usage_sent_as_running_totals_keeps_the_last_report(server: FakeServer, client: chatplug.Client) -> None:
    """A provider that reports running totals on several chunks: the final usage is the last one, not the first
    and not a sum."""
    server.add(Reply.sse([
        chunk({"role": "assistant", "content": "a"}, usage=usage(7, 1)),
        chunk({"content": "b"}, usage=usage(7, 2)),
        chunk({"content": "c"}, finish_reason="stop", usage=usage(7, 3)),
    ]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        reported = [c.usage.completion_tokens for c in stream if c.usage is not None]
        final = stream.get_final_completion()
    assert reported == [1, 2, 3]
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (7, 3, 10)
    assert final.choices[0].message.content == "abc"


def test_a_later_chunk_without_usage_keeps_the_last_report(server: FakeServer, client: chatplug.Client) -> None:
    """A trailing chunk with no usage does not erase the usage reported before it."""
    server.add(Reply.sse([
        chunk({"role": "assistant", "content": "a"}, usage=usage(2, 1)),
        chunk({"content": "b"}, usage=usage(2, 2)),
        chunk({}, finish_reason="stop"),
    ]))
    with client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.total_tokens) == (2, 2, 4)


# ------------------------------------------------------- Retry-After above the cap


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "86400"},
        {"retry-after-ms": "86400000"},
        {"Retry-After": str(MAX_RETRY_AFTER + 1)},
        {"Retry-After": "-5"},
    ],
    ids=["a-day", "a-day-in-ms", "just-above-the-cap", "negative"],
)
def test_a_retry_after_outside_the_cap_falls_back_to_the_backoff(
    headers: dict[str, str], server: FakeServer, client: chatplug.Client
) -> None:
    """The client asks to sleep the backoff (at most 0.5 s for the first retry), never the hinted day."""
    server.add(Reply.error(429, {"error": {"message": "slow"}}, headers=headers), Reply.json(completion_body("ok")))
    assert client.chat.completions.create(model="t-1", messages=MESSAGES).choices[0].message.content == "ok"
    sleeps: SleepRecorder = client._sleep  # type: ignore[assignment]
    assert len(sleeps.delays) == 1
    assert FIRST_BACKOFF[0] <= sleeps.delays[0] <= FIRST_BACKOFF[1]


def test_an_http_date_a_day_ahead_falls_back_to_the_backoff(server: FakeServer, client: chatplug.Client) -> None:
    tomorrow = email.utils.formatdate(time.time() + 86400, usegmt=True)
    server.add(Reply.error(503, {"error": {"message": "down"}}, headers={"Retry-After": tomorrow}),
               Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    sleeps: SleepRecorder = client._sleep  # type: ignore[assignment]
    assert len(sleeps.delays) == 1
    assert FIRST_BACKOFF[0] <= sleeps.delays[0] <= FIRST_BACKOFF[1]


def test_a_retry_after_at_the_cap_is_honoured(server: FakeServer, client: chatplug.Client) -> None:
    """The cap itself is allowed: 60 s is waited, so the cap is a bound and not an off-by-one."""
    server.add(Reply.error(429, {"error": {"message": "slow"}}, headers={"Retry-After": str(int(MAX_RETRY_AFTER))}),
               Reply.error(429, {"error": {"message": "slow"}}, headers={"Retry-After": "0"}),
               Reply.json(completion_body()))
    client.chat.completions.create(model="t-1", messages=MESSAGES)
    sleeps: SleepRecorder = client._sleep  # type: ignore[assignment]
    assert sleeps.delays == [MAX_RETRY_AFTER, 0.0]


class DayLongHint:
    """A provider plugin whose error mapping passes on a body hint of one day."""

    @chatplug.hookimpl
    def chatplug_map_error(
        self, provider: chatplug.Provider, status_code: int | None
    ) -> chatplug.APIStatusError | None:
        if provider.id != "testprov":
            return None
        return chatplug.RateLimitError("wait a day", status_code=status_code, retry_after=86400.0)


@pytest.mark.anyio
async def test_a_body_hint_above_the_cap_is_ignored_async(
    server: FakeServer, registry: chatplug.PluginRegistry
) -> None:
    registry.register(DayLongHint(), "day-long-hint")
    server.add(Reply.error(429, {"error": {"message": "slow"}}), Reply.json(completion_body()))
    async with chatplug.AsyncClient(provider="testprov", api_key=KEY, base_url=server.base_url,
                                    registry=registry) as client:
        client._sleep = sleeps = AsyncSleepRecorder()
        await client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert len(sleeps.delays) == 1
    assert FIRST_BACKOFF[0] <= sleeps.delays[0] <= FIRST_BACKOFF[1]


# ------------------------------------------------------------------ 504 retried


def test_a_504_is_retried_and_then_succeeds(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(504, "<html>Gateway Timeout</html>"), Reply.error(504, "<html>Gateway Timeout</html>"),
               Reply.json(completion_body("through")))
    completion = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert completion.choices[0].message.content == "through"
    assert len(server.requests) == 3
    assert len(client._sleep.delays) == 2  # type: ignore[attr-defined]


def test_a_504_that_persists_raises_after_max_retries(server: FakeServer, client: chatplug.Client) -> None:
    for _ in range(3):
        server.add(Reply.error(504, {"error": {"message": "upstream timed out"}}))
    with pytest.raises(chatplug.InternalServerError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert type(info.value) is chatplug.InternalServerError
    assert info.value.status_code == 504
    assert info.value.retryable is True
    assert len(server.requests) == 3


def test_a_501_is_not_retried(server: FakeServer, client: chatplug.Client) -> None:
    server.add(Reply.error(501, {"error": {"message": "not implemented"}}), Reply.json(completion_body()))
    with pytest.raises(chatplug.InternalServerError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.status_code == 501
    assert len(server.requests) == 1


# ------------------------------------------------------- a custom auth header


CUSTOM_AUTH = chatplug.Provider(
    id="customauth",
    base_url="http://127.0.0.1:9/v1",
    api_key_env=("CUSTOM_AUTH_TEST_KEY",),
    models=("c-1",),
    auth_header=HEADER,
    auth_scheme="",
)


class EventLog:
    """Records the repr of every observer event."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.headers: list[dict[str, str]] = []

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.seen.append(repr(request))
        self.headers.append(dict(request.headers))

    @chatplug.hookimpl
    def chatplug_on_error(self, error: chatplug.APIError, will_retry: bool) -> None:
        self.seen.append(f"{error!r} {error} {error.body!r}")

    @chatplug.hookimpl
    def chatplug_on_finish(self, completion: chatplug.ChatCompletion | None, error: BaseException | None) -> None:
        self.seen.append(f"{completion!r} {error!r}")


def test_a_custom_auth_header_is_redacted_in_events_and_logs(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider sends its key in ``X-Custom-Api-Key`` with no scheme: that header, not only
    ``Authorization``, is ``***`` in every observer event, error and log line."""
    registry = chatplug.PluginRegistry(load_entrypoints=False)
    events = EventLog()
    registry.register(_Declares(CUSTOM_AUTH), "custom-auth")
    registry.register(events, "events")
    echo = {"error": {"message": f"bad key {KEY}", "details": [KEY]}}
    server.add(Reply.error(503, echo), Reply.error(401, echo))
    with (
        caplog.at_level(logging.DEBUG),
        chatplug.Client(provider="customauth", api_key=KEY, base_url=server.base_url, registry=registry) as client,
    ):
        client._sleep = SleepRecorder()
        with pytest.raises(chatplug.AuthenticationError) as info:
            client.chat.completions.create(model="c-1", messages=MESSAGES)
    assert [r.headers.get(HEADER.lower()) for r in server.requests] == [KEY, KEY]  # it was sent
    assert len(events.headers) == 2
    assert all(headers[HEADER] == "***" for headers in events.headers)
    assert "Authorization" not in events.headers[0]
    assert events.seen and all(KEY not in text for text in events.seen)
    assert KEY not in caplog.text
    assert KEY not in f"{info.value} {info.value!r} {info.value.body!r}"


class _Declares:
    def __init__(self, provider: chatplug.Provider) -> None:
        self.provider = provider

    @chatplug.hookimpl
    def chatplug_providers(self) -> list[chatplug.Provider]:
        return [self.provider]


# ------------------------------------------------------ keys inside lists


def test_keys_inside_lists_of_an_error_body_are_scrubbed(server: FakeServer, client: chatplug.Client) -> None:
    api_key = client._api_key.get()  # type: ignore[union-attr]
    body = {
        "error": {
            "message": "rejected",
            "details": [f"key {api_key} is revoked", {"key": api_key, "also": [api_key, 3, None]}],
        },
        "keys": [[api_key], {"nested": [{"deeper": f"Bearer {api_key}"}]}],
    }
    server.add(Reply.error(401, body))
    with pytest.raises(chatplug.AuthenticationError) as info:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert info.value.body == {
        "error": {"message": "rejected", "details": ["key *** is revoked", {"key": "***", "also": ["***", 3, None]}]},
        "keys": [["***"], {"nested": [{"deeper": "***"}]}],  # the whole header value is one secret
    }


def test_keys_inside_lists_of_an_in_stream_error_are_scrubbed(server: FakeServer, client: chatplug.Client) -> None:
    api_key = client._api_key.get()  # type: ignore[union-attr]
    server.add(Reply.sse([chunk({"role": "assistant", "content": "hi"}),
                          {"error": {"message": "quota", "code": "x", "keys": [api_key, [api_key]]}}], done=False))
    with (
        pytest.raises(chatplug.APIStatusError) as info,
        client.chat.completions.create(model="t-1", messages=MESSAGES, stream=True) as stream,
    ):
        for _ in stream:
            pass
    assert info.value.body == {"error": {"message": "quota", "code": "x", "keys": ["***", ["***"]]}}
    assert info.value.partial is not None and info.value.partial.choices[0].message.content == "hi"


# ------------------------------------------- entry points: lists and breakage


GOOD = '''
import chatplug

@chatplug.hookimpl
def chatplug_providers():
    return chatplug.Provider(id="{id}", base_url="https://{id}.example/v1", model_prefixes=("{id}-",))
'''


def add_distribution(site: Path, dist: str, entry_name: str, module: str, source: str) -> None:
    """Lay out an installed distribution with one ``chatplug`` entry point in ``site``."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[chatplug]\n{entry_name} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def two_sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Plugins on sys.path, the broken ones in a directory searched before the good ones."""
    early, late = tmp_path / "early", tmp_path / "late"
    early.mkdir()
    late.mkdir()
    add_distribution(early, "promise-broken-import", "pbroken", "cp_promise_broken",
                     "raise ImportError('needs a module that is not installed')")
    add_distribution(early, "promise-missing-module", "pmissing", "cp_promise_no_such_module_anywhere", "")
    (early / "cp_promise_no_such_module_anywhere.py").unlink()
    add_distribution(early, "promise-bad-hook", "pbadhook", "cp_promise_badhook",
                     "import chatplug\n\n@chatplug.hookimpl\ndef chatplug_no_such_hook():\n    return None\n")
    add_distribution(late, "promise-alpha", "palpha", "cp_promise_alpha", GOOD.replace("{id}", "alpha"))
    add_distribution(late, "promise-beta", "pbeta", "cp_promise_beta", GOOD.replace("{id}", "beta"))
    monkeypatch.syspath_prepend(str(late))
    monkeypatch.syspath_prepend(str(early))
    for module in ("cp_promise_broken", "cp_promise_badhook", "cp_promise_alpha", "cp_promise_beta"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return tmp_path


OURS = "palpha, pbeta, pbroken, pmissing, pbadhook"


def test_broken_entry_points_found_first_do_not_stop_the_others(two_sites: Path) -> None:
    """Three plugins that fail in three ways are discovered before two good ones: both good ones load,
    each failure is reported with its name and distribution, nothing is raised."""
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": OURS})
    assert sorted(registry.providers()) == ["alpha", "beta"]
    failures = {f.name: f for f in registry.failures()}
    assert sorted(failures) == ["pbadhook", "pbroken", "pmissing"]
    assert failures["pbroken"].distribution == "promise-broken-import"
    assert failures["pbroken"].error == "import failed: ImportError: needs a module that is not installed"
    assert failures["pmissing"].error.startswith("import failed: ModuleNotFoundError: ")
    assert failures["pbadhook"].error.startswith("registration failed: ")
    assert "chatplug_no_such_hook" in failures["pbadhook"].error
    provider, name = registry.resolve_model("beta-1")
    assert (provider.id, name) == ("beta", "beta-1")


def test_broken_entry_points_in_strict_mode_raise(two_sites: Path) -> None:
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": OURS}, strict=True)
    with pytest.raises(chatplug.PluginError, match="promise-"):
        registry.load()


@pytest.mark.parametrize("spelling", ["palpha, pbeta", " palpha ,pbeta ", "palpha,  pbeta,", "palpha,pbeta"])
def test_allow_list_accepts_spaces_after_commas(two_sites: Path, spelling: str) -> None:
    """``CHATPLUG_PLUGINS="glm, kimi"`` means glm and kimi, as ``"glm,kimi"`` does."""
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": spelling})
    assert sorted(registry.providers()) == ["alpha", "beta"]
    assert registry.failures() == []


@pytest.mark.parametrize("spelling", ["pbroken, pmissing, pbadhook, pbeta", " pbroken ,pmissing,pbadhook , pbeta "])
def test_block_list_accepts_spaces_after_commas(two_sites: Path, spelling: str) -> None:
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": OURS, "CHATPLUG_DISABLE_PLUGINS": spelling})
    assert sorted(registry.providers()) == ["alpha"]
    assert registry.failures() == []


def test_an_allow_list_of_only_blanks_allows_everything(two_sites: Path) -> None:
    """``CHATPLUG_PLUGINS=" "`` is unset, not "allow nothing"."""
    registry = chatplug.PluginRegistry(environ={"CHATPLUG_PLUGINS": " ", "CHATPLUG_DISABLE_PLUGINS": OURS.replace(
        "palpha, ", "")})
    assert "alpha" in registry.providers()
    assert "beta" not in registry.providers()

