"""GLM error bodies -> chatplug errors, and whether the client retries them.

Recorded samples are replayed with the HTTP status they arrived with; every
other code of the mapping table is covered by a body of the same envelope.
Retries are counted as the requests the server received; ``client._sleep``
records delays instead of waiting.
"""

from __future__ import annotations

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import API_KEY, MESSAGES, fixture_json

# (sample, HTTP status it arrived with, class, retried)
RECORDED = [
    ("glm-error-1113-arrears-zh.json", 429, chatplug.QuotaExceededError, False),
    ("glm-error-1113-insufficient-balance-en.json", 429, chatplug.QuotaExceededError, False),
    ("glm-error-1301-content-filter-docs.json", 400, chatplug.ContentFilterError, False),
    ("glm-error-1302-rate-limit-zh.json", 429, chatplug.RateLimitError, True),
    ("glm-error-1305-overloaded-anthropic-endpoint.json", 429, chatplug.RateLimitError, True),
]

# (code, HTTP status, class, retried) for the codes no recording shows
TABLE = [
    ("1000", 401, chatplug.AuthenticationError, False),
    ("1001", 401, chatplug.AuthenticationError, False),
    ("1002", 401, chatplug.AuthenticationError, False),
    ("1003", 401, chatplug.AuthenticationError, False),
    ("1004", 401, chatplug.AuthenticationError, False),
    ("1210", 400, chatplug.BadRequestError, False),
    ("1211", 400, chatplug.NotFoundError, False),
    ("1214", 400, chatplug.BadRequestError, False),
    ("1261", 400, chatplug.ContextLengthError, False),
    ("1303", 429, chatplug.RateLimitError, True),
    ("1234", 500, chatplug.InternalServerError, True),
]

MAX_RETRIES = 2
ErrorClass = type[chatplug.APIStatusError]


def expected_requests(retried: bool) -> int:
    return 1 + MAX_RETRIES if retried else 1


@pytest.mark.parametrize(("name", "status", "cls", "retried"), RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_error_sync(
    client: chatplug.Client, server: FakeServer, name: str, status: int,
    cls: ErrorClass, retried: bool,
) -> None:
    body = fixture_json(name)
    server.default = Reply.error(status, body)
    with pytest.raises(cls) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    error = caught.value
    assert type(error) is cls
    assert error.code == body["error"]["code"]
    assert error.message == body["error"]["message"]  # Chinese kept as sent
    assert body["error"]["message"] in str(error)
    assert error.status_code == status
    assert error.provider == "glm"
    assert error.body == body
    assert error.retryable is retried
    assert len(server.requests) == expected_requests(retried)
    assert len(client._sleep) == (MAX_RETRIES if retried else 0)  # type: ignore[arg-type]
    assert API_KEY not in str(error) and API_KEY not in repr(error)


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "status", "cls", "retried"), RECORDED, ids=[r[0] for r in RECORDED])
async def test_recorded_error_async(
    aclient: chatplug.AsyncClient, server: FakeServer, name: str, status: int,
    cls: ErrorClass, retried: bool,
) -> None:
    body = fixture_json(name)
    server.default = Reply.error(status, body)
    with pytest.raises(cls) as caught:
        await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is cls
    assert caught.value.code == body["error"]["code"]
    assert len(server.requests) == expected_requests(retried)
    assert len(aclient._sleep) == (MAX_RETRIES if retried else 0)  # type: ignore[arg-type]


def test_content_filter_keeps_details(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(400, fixture_json("glm-error-1301-content-filter-docs.json")))
    with pytest.raises(chatplug.ContentFilterError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.body["contentFilter"] == [{"level": 1, "role": "user"}]
    assert isinstance(caught.value, chatplug.BadRequestError)


def test_request_id_from_error_body(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, fixture_json("glm-error-1305-overloaded-anthropic-endpoint.json")))
    server.add(Reply.json(fixture_json("glm-nonstream-reasoning.json")))
    reply = client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert reply.choices[0].message.content == "Olá! (Oh-lah)"  # the retry succeeded
    assert len(server.requests) == 2


def test_request_id_kept_on_error(client: chatplug.Client, server: FakeServer) -> None:
    client.max_retries = 0
    server.add(Reply.error(429, fixture_json("glm-error-1305-overloaded-anthropic-endpoint.json")))
    with pytest.raises(chatplug.RateLimitError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.request_id == "20260416094124822021dae9564747"


@pytest.mark.parametrize(("code", "status", "cls", "retried"), TABLE, ids=[r[0] for r in TABLE])
def test_code_table(
    client: chatplug.Client, server: FakeServer, code: str, status: int,
    cls: ErrorClass, retried: bool,
) -> None:
    message = f"GLM says {code}"
    server.default = Reply.error(status, {"error": {"code": code, "message": message}})
    with pytest.raises(cls) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert caught.value.message == message
    assert len(server.requests) == expected_requests(retried)


def test_quota_is_not_retried_when_streaming(client: chatplug.Client, server: FakeServer) -> None:
    server.default = Reply.error(429, fixture_json("glm-error-1113-arrears-zh.json"))
    with pytest.raises(chatplug.QuotaExceededError):
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True)
    assert len(server.requests) == 1


def test_rate_limit_before_stream_is_retried(client: chatplug.Client, server: FakeServer) -> None:
    server.add(Reply.error(429, fixture_json("glm-error-1302-rate-limit-zh.json")))
    server.add(Reply.sse([{"id": "a", "created": 1, "model": "glm-4.6",
                           "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"},
                                        "finish_reason": "stop"}]}]))
    with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "ok"
    assert len(server.requests) == 2
    assert len(client._sleep) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "cls", "retried"), [(400, chatplug.BadRequestError, False),
                                                        (503, chatplug.InternalServerError, True)])
def test_unknown_code_falls_back_to_status(
    client: chatplug.Client, server: FakeServer, status: int,
    cls: ErrorClass, retried: bool,
) -> None:
    server.default = Reply.error(status, {"error": {"code": "1999", "message": "未知错误"}})
    with pytest.raises(cls) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is cls
    assert caught.value.code == "1999"
    assert caught.value.message == "未知错误"
    assert len(server.requests) == expected_requests(retried)


def test_error_inside_stream_is_mapped_with_partial(client: chatplug.Client, server: FakeServer) -> None:
    """A ``data: {"error": ...}`` event mid-stream raises the mapped class, with what came before."""
    server.add(Reply.sse([
        {"id": "s1", "created": 1, "model": "glm-4.6",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Once"}}]},
        {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}},
    ], done=False))
    received = []
    with pytest.raises(chatplug.ContentFilterError) as caught:  # noqa: SIM117
        with client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream:
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    assert received == ["Once"]
    assert caught.value.code == "1301"
    assert caught.value.status_code is None
    assert caught.value.partial is not None
    assert caught.value.partial.choices[0].message.content == "Once"
    assert len(server.requests) == 1


def test_other_providers_keep_status_mapping(
    client: chatplug.Client, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GLM mapping applies to GLM only: the same body from another provider is a plain 429."""
    monkeypatch.setenv("OTHER_TEST_KEY", "other-key-0123456789")
    server.default = Reply.error(429, fixture_json("glm-error-1113-arrears-zh.json"))
    other = chatplug.Client(provider="other", base_url=server.base_url, registry=client.registry)
    other._sleep = lambda seconds: None
    with other, pytest.raises(chatplug.RateLimitError) as caught:
        other.chat.completions.create(model="other-1", messages=MESSAGES)
    assert type(caught.value) is chatplug.RateLimitError
    assert len(server.requests) == 1 + MAX_RETRIES


def test_the_error_table_loads_with_the_first_error_and_its_names_stay_importable() -> None:
    import json
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import json, sys
        import chatplug
        from chatplug.testing import FakeServer, Reply
        body = {"id": "c", "object": "chat.completion", "created": 1, "model": "glm-4.6",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
        with FakeServer() as server:
            server.add(Reply.json(body), Reply.error(429, {"error": {"code": "1113", "message": "arrears"}}))
            client = chatplug.Client(provider="glm", api_key="zai-k", base_url=server.base_url, max_retries=0)
            client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "Hi"}])
            after_success = "chatplug_glm._errors" in sys.modules
            try:
                client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "Hi"}])
            except chatplug.QuotaExceededError as error:
                refused = type(error).__name__
        import chatplug_glm
        from chatplug_glm import ERROR_CLASSES, map_glm_error
        print(json.dumps({"after_success": after_success, "refused": refused,
                          "after_error": "chatplug_glm._errors" in sys.modules,
                          "names": [callable(map_glm_error), ERROR_CLASSES is chatplug_glm.ERROR_CLASSES],
                          "listed": {"ERROR_CLASSES", "map_glm_error"} <= set(dir(chatplug_glm))}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "after_success": False, "refused": "QuotaExceededError", "after_error": True,
        "names": [True, True], "listed": True,
    }
