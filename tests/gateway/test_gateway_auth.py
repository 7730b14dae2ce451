"""Gateway keys and tenancy: 401s, allowed models, per-key limits, provider keys kept on the server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest
from chatplug.testing import FakeServer, Reply
from gateway_support import (
    MESSAGES,
    MOONSHOT_KEY,
    TEAM_A_KEY,
    TEAM_B_KEY,
    TENANTS_TOML,
    ZAI_KEY,
    GatewayProcess,
    ThreadedGateway,
    completion,
    fixture_json,
    provider_env,
    run_serve,
    simple_stream,
    threaded_gateway,
)


def client(gateway: ThreadedGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)


@pytest.mark.parametrize("key", ["gw-not-a-key-at-all-000000", ZAI_KEY])
def test_a_wrong_gateway_key_is_401_openai_error_json_and_nothing_goes_upstream(
    fake: FakeServer, tenants: ThreadedGateway, key: str
) -> None:
    with client(tenants, key) as c, pytest.raises(openai.AuthenticationError) as caught:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    error = caught.value
    assert error.status_code == 401
    assert error.body == {"message": "incorrect gateway key provided", "type": "invalid_request_error",
                          "param": None, "code": "invalid_api_key"}
    assert fake.requests == []
    metrics = httpx.get(f"{tenants.url}/metrics").text
    assert 'chatplug_gateway_errors_total{error="InvalidGatewayKey",model="",provider="",tenant=""} 1.0' in metrics
    assert key not in metrics


def test_a_missing_gateway_key_is_401(fake: FakeServer, tenants: ThreadedGateway) -> None:
    response = httpx.post(f"{tenants.base_url}/chat/completions", json={"model": "glm-4.6", "messages": MESSAGES})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert httpx.get(f"{tenants.base_url}/models").status_code == 401
    assert fake.requests == []


def test_a_model_the_key_may_not_use_is_403_before_any_upstream_call(
    fake: FakeServer, tenants: ThreadedGateway
) -> None:
    with client(tenants, TEAM_A_KEY) as c, pytest.raises(openai.PermissionDeniedError) as caught:
        c.chat.completions.create(model="kimi/kimi-k2-0905-preview", messages=MESSAGES)
    assert caught.value.code == "model_not_allowed"
    assert caught.value.status_code == 403
    assert "team-a" in caught.value.message and "glm/*, fast" in caught.value.message
    assert fake.requests == []


def test_allowed_models_by_pattern_and_by_alias(fake: FakeServer, tenants: ThreadedGateway) -> None:
    fake.add(Reply.json(completion()), Reply.json(completion(model="glm-4.5-air")))
    with client(tenants, TEAM_A_KEY) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)  # bare name, resolved to glm/glm-4.6
        c.chat.completions.create(model="fast", messages=MESSAGES)  # the alias
    assert [r.json()["model"] for r in fake.requests] == ["glm-4.6", "glm-4.5-air"]


def test_models_lists_only_what_the_key_may_use(tenants: ThreadedGateway) -> None:
    with client(tenants, TEAM_A_KEY) as c:
        ids = [m.id for m in c.models.list()]
    assert "fast" in ids and "glm/glm-4.6" in ids
    assert not [name for name in ids if name.startswith("kimi/")]
    with client(tenants, TEAM_B_KEY) as c:
        assert any(m.id.startswith("kimi/") for m in c.models.list())


def test_a_key_over_its_own_rpm_gets_429_rate_limit_and_other_keys_do_not(
    fake: FakeServer, tenants: ThreadedGateway
) -> None:
    fake.default = Reply.json(completion())
    with client(tenants, TEAM_B_KEY) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as caught:
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert "team-b" in caught.value.message and "rpm=2" in caught.value.message
    assert len(fake.requests) == 2
    with client(tenants, TEAM_A_KEY) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)  # team-a has no limit
    assert len(fake.requests) == 3


def test_gateway_keys_from_the_environment(fake: FakeServer) -> None:
    environ = {"CHATPLUG_GATEWAY_KEYS": "gw-env-key-one-0123456789, gw-env-key-two-9876543210"}
    fake.add(Reply.json(completion()))
    with threaded_gateway("", environ) as served:
        with client(served, "gw-env-key-two-9876543210") as c:
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        with client(served, "gw-env-key-three-000000000") as c, pytest.raises(openai.AuthenticationError):
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)


def test_no_provider_key_in_any_response_header_metric_or_error(fake: FakeServer, tenants: ThreadedGateway) -> None:
    quota = fixture_json("glm-error-1113-insufficient-balance-en.json")
    fake.add(Reply.json(completion()), Reply.sse(simple_stream()), Reply.error(429, quota))
    seen: list[str] = []
    with httpx.Client(base_url=tenants.base_url, headers={"Authorization": f"Bearer {TEAM_A_KEY}"}) as http:
        for body in ({"model": "glm-4.6", "messages": MESSAGES},
                     {"model": "glm-4.6", "messages": MESSAGES, "stream": True},
                     {"model": "glm-4.6", "messages": MESSAGES}):
            response = http.post("/chat/completions", json=body)
            seen.append(str(response.headers) + response.text)
        seen.append(http.get("/models").text)
        seen.append(httpx.get(f"{tenants.url}/metrics").text)
    everything = "\n".join(seen)
    for secret in (ZAI_KEY, MOONSHOT_KEY, TEAM_A_KEY, ZAI_KEY[-12:]):
        assert secret not in everything
    assert "insufficient_quota" in everything and 'tenant="team-a"' in everything
    assert all(r.headers["authorization"] == f"Bearer {ZAI_KEY}" for r in fake.requests)


def test_serve_refuses_a_public_address_without_a_gateway_key(tmp_path: Path) -> None:
    result = run_serve(["--host", "0.0.0.0", "--port", "9"], env={"CHATPLUG_GATEWAY_KEYS": ""})
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a gateway key" in result.stderr
    config = tmp_path / "gateway.toml"
    config.write_text('[server]\nhost = "10.1.2.3"\n')
    result = run_serve(["--config", str(config)], env={"CHATPLUG_GATEWAY_KEYS": ""})
    assert result.returncode == 2 and "refusing to listen on 10.1.2.3" in result.stderr


def test_serve_subprocess_keeps_provider_keys_out_of_its_output(fake: FakeServer, tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(TENANTS_TOML)
    fake.add(Reply.json(completion()), Reply.error(401, {"error": {"code": "1001", "message": "bad key"}}))
    served = GatewayProcess(tmp_path, ["--config", str(config), "--log-level", "debug"], provider_env(fake))
    with served, openai.OpenAI(base_url=served.base_url, api_key=TEAM_A_KEY, max_retries=0) as c:
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError) as caught:
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_authentication_error"
    output = served.output()
    assert "POST /v1/chat/completions" in output  # the access log was written
    for secret in (ZAI_KEY, MOONSHOT_KEY, TEAM_A_KEY):
        assert secret not in output


def test_a_request_larger_than_the_keys_whole_tpm_is_400_not_a_rate_limit(fake: FakeServer) -> None:
    toml = '[[keys]]\nname = "small"\nkey = "gw-small-tpm-key-00000"\ntpm = 1000\n'
    with threaded_gateway(toml) as served, client(served, "gw-small-tpm-key-00000") as c:
        with pytest.raises(openai.BadRequestError) as caught:
            c.chat.completions.create(model="glm-4.6", messages=MESSAGES, max_tokens=5000)
        assert caught.value.code == "tokens_over_key_limit" and caught.value.param == "max_tokens"
        assert "tpm=1000" in caught.value.message
        fake.add(Reply.json(completion()))
        c.chat.completions.create(model="glm-4.6", messages=MESSAGES, max_tokens=100)
    assert len(fake.requests) == 1


def test_retrieve_one_model_by_its_provider_slash_model_name(tenants: ThreadedGateway) -> None:
    with client(tenants, TEAM_A_KEY) as c:
        model = c.models.retrieve("glm/glm-4.6")
        alias = c.models.retrieve("fast")
        with pytest.raises(openai.NotFoundError) as caught:
            c.models.retrieve("kimi/kimi-k2-0905-preview")  # exists, but not for this key
    assert (model.id, model.owned_by) == ("glm/glm-4.6", "glm")
    assert (alias.id, (alias.model_extra or {}).get("alias_of")) == ("fast", "glm/glm-4.5-air")
    assert caught.value.code == "model_not_found"


def test_a_keys_max_in_flight_holds_while_its_stream_is_open_and_frees_when_it_ends(fake: FakeServer) -> None:
    toml = '[[keys]]\nname = "one"\nkey = "gw-one-at-a-time-key-0"\nmax_in_flight = 1\n'
    headers = {"Authorization": "Bearer gw-one-at-a-time-key-0"}
    body = {"model": "glm-4.6", "messages": MESSAGES, "stream": True}
    fake.add(Reply.sse(simple_stream("slow reply"), delay_between_chunks=60), Reply.json(completion()))
    with threaded_gateway(toml) as served:
        url = f"{served.base_url}/chat/completions"
        with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as first:
            lines = first.iter_lines()  # kept: a dropped iterator would close the response
            assert next(lines).startswith("data: {")  # the stream is open, its provider thinking
            second = httpx.post(url, json={**body, "stream": False}, headers=headers)
            assert second.status_code == 429 and "max_in_flight=1" in second.json()["error"]["message"]
        # the client closed its stream: the slot comes back once the gateway has noticed
        assert fake.client_disconnected.wait(20)
        for _ in range(100):
            third = httpx.post(url, json={**body, "stream": False}, headers=headers)
            if third.status_code != 429:
                break
            time.sleep(0.05)
        assert third.status_code == 200
