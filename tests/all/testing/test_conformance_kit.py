"""ProviderConformance judged by pytester: a correct plugin passes every check, a deliberately
broken one fails every check with a message that says what is wrong."""

from __future__ import annotations

import pytest
from chatplug.testing._conformance import mismatches

pytest_plugins = ["pytester"]

HELLO_SSE = (
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"b-1",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}\n\n'
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"b-1",'
    '"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}],'
    '"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}\n\n'
    "data: [DONE]\n\n"
)
BALANCE_ERROR = '{"error": {"code": "out_of_balance", "message": "Top up your account"}}'

SHARED = '''
import logging

import chatplug
from chatplug.testing import ErrorSample, ProviderConformance, Transcript

TRANSCRIPTS = [Transcript("hello.sse", expected={
    "id": "c1",
    "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": "Hello world"}}],
    "usage": {"total_tokens": 4},
})]
ERRORS = [
    ErrorSample("balance.json", status=402, error=chatplug.QuotaExceededError, retryable=False),
    ErrorSample({"error": {"message": "slow down"}}, status=429, error=chatplug.RateLimitError, retryable=True,
                name="rate-limit"),
]
'''

GOOD_PLUGIN = SHARED + '''
PROVIDER = chatplug.Provider(id="good", base_url="https://good.invalid/v1", api_key_env=("GOOD_API_KEY",),
                             models=("b-1",), limits=chatplug.Limits(temperature=(0, 1), max_stop=2,
                                                                      tool_choice=("auto", "none")),
                             catalog=chatplug.ModelCatalog(models={"b-1": chatplug.ModelInfo(
                                 thinking="none", tools=True, unsupported={"seed": "no seed here"})}))


class Good:
    @chatplug.hookimpl
    def chatplug_providers(self):
        return [PROVIDER]

    @chatplug.hookimpl
    def chatplug_map_error(self, provider, status_code, body):
        if provider.id != "good" or status_code != 402:
            return None
        return chatplug.QuotaExceededError("out of balance", status_code=402, provider="good", body=body)


class TestGoodConformance(ProviderConformance):
    provider_id = "good"
    plugin = Good()
    transcripts = TRANSCRIPTS
    error_samples = ERRORS
'''

BROKEN_PLUGIN = SHARED + '''
PROVIDER = chatplug.Provider(id="broken", base_url="https://broken.invalid/v1/chat/completions",
                             api_key_env=("broken_key",), models=("b-1",),
                             limits=chatplug.Limits(temperature=(0, 1)),
                             catalog=chatplug.ModelCatalog(models={"b-1": chatplug.ModelInfo(thinking="optional")}))


class Truncating(chatplug.ResponseNormalizer):
    def normalize_chunk(self, data):
        for choice in data.get("choices", []):
            delta = choice.get("delta", {})
            if delta.get("content"):
                delta["content"] = delta["content"][:1]
        return (data,)


class Broken:
    """Every mistake the kit exists to catch."""

    @chatplug.hookimpl
    def chatplug_providers(self):
        return [PROVIDER]

    @chatplug.hookimpl
    def chatplug_credentials(self, api_key, environ):
        key = api_key or environ.get("broken_key")
        if not key:
            return None
        logging.getLogger("chatplug").info("authenticating with %s", key)
        return {"Authorization": "Token " + key}

    @chatplug.hookimpl
    def chatplug_prepare_payload(self, payload):
        if payload.get("temperature", 0) >= 1:
            payload["temperature"] = 0.99

    @chatplug.hookimpl
    def chatplug_response_normalizer(self):
        return Truncating()

    @chatplug.hookimpl
    def chatplug_map_error(self, provider, status_code, body):
        return chatplug.RateLimitError("failed", status_code=status_code, provider=provider.id, body=body)


class TestBrokenConformance(ProviderConformance):
    provider_id = "broken"
    plugin = Broken()
    transcripts = TRANSCRIPTS
    error_samples = ERRORS
'''


@pytest.fixture
def kit_project(pytester: pytest.Pytester) -> pytest.Pytester:
    fixtures = pytester.mkdir("fixtures")
    (fixtures / "hello.sse").write_text(HELLO_SSE, encoding="utf-8")
    (fixtures / "balance.json").write_text(BALANCE_ERROR, encoding="utf-8")
    return pytester


def test_a_correct_plugin_passes_every_check(kit_project: pytest.Pytester) -> None:
    kit_project.makepyfile(test_good=GOOD_PLUGIN)
    result = kit_project.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(passed=11)


def test_a_broken_plugin_fails_every_check_with_a_readable_message(kit_project: pytest.Pytester) -> None:
    kit_project.makepyfile(test_broken=BROKEN_PLUGIN)
    result = kit_project.runpytest("-q", "-p", "no:randomly", "-rf")
    result.assert_outcomes(failed=10, passed=1)
    output = result.stdout.str()
    result.stdout.fnmatch_lines_random([
        "*[[]broken[]] the provider record is invalid:*",
        "*base_url 'https://broken.invalid/v1/chat/completions' must stop before /chat/completions*",
        "*api_key_env entry 'broken_key' is not an environment variable name*",
        "*[[]broken[]] with broken_key set, the request's Authorization header was 'Token <key>';"
        " expected 'Bearer <key>'*",
        "*[[]broken[]] transcript hello.sse (stream, sync client) did not decode to the expected completion:*",
        "*[[]broken[]] transcript hello.sse (stream, async client) did not decode to the expected completion:*",
        "*completion.choices[[]0[]].message.content: expected 'Hello world', got 'H '*",
        "*[[]broken[]] error sample balance.json (HTTP 402): mapped to RateLimitError, expected QuotaExceededError*",
        "*[[]broken[]] hooks act on provider 'conformance-dummy', which this plugin does not own.*",
        "*chatplug_credentials returned dict instead of None*",
        "*chatplug_prepare_payload changed the payload (keys [[]'temperature'[]])*",
        "*chatplug_response_normalizer(stream=False) returned Truncating instead of None*",
        "*chatplug_map_error(status=429) returned RateLimitError*",
        "*[[]broken[]] with this plugin installed, a request to another provider for the plain completion changed*",
        "*[[]broken[]] temperature=1 is within the declared limits but was sent as 0.99:"
        " nothing may be changed silently*",
        "*[[]broken[]] the API key appears in: log record chatplug:INFO*",
        "*[[]broken[]] the model catalog is malformed:*",
        "*models[[]'b-1'[]]: thinking is 'optional' but thinking_default is None; say True or False*",
    ])
    # The rate-limit sample is right by accident (the plugin maps everything to it): it passes.
    assert "test_error_sample_maps[[]rate-limit[]] PASSED" not in output
    # Failures read as the kit's message, not as a traceback into the kit.
    assert "_conformance.py" not in output
    # The kit's own messages never show the key (the broken plugin's log lines, captured by pytest, do).
    assert [line for line in output.splitlines() if line.startswith("[broken]") and "sk-conformance-" in line] == []


def test_an_unregistered_id_and_a_missing_entry_point_say_what_to_do(kit_project: pytest.Pytester) -> None:
    kit_project.makepyfile(test_missing='''
from chatplug.testing import ProviderConformance


class TestNoSuchPlugin(ProviderConformance):
    provider_id = "no-such-provider"

    def test_only_this(self, conformance_registry):
        pass
''')
    result = kit_project.runpytest("-q", "-p", "no:randomly", "-k", "record or only_this")
    result.stdout.fnmatch_lines([
        "*[[]no-such-provider[]] no entry point named 'no-such-provider' in the 'chatplug' group: install the "
        "plugin's distribution (pip install -e .), or set `plugin = <your module>` on TestNoSuchPlugin*",
    ])
    result.assert_outcomes(errors=2)


def test_mismatches_names_each_differing_path() -> None:
    expected = {"choices": [{"message": {"content": "Hi", "tool_calls": [{"id": "a"}]}}], "usage": {"n": 1}}
    actual = {"choices": [{"message": {"content": "Ho", "tool_calls": []}}], "usage": {}}
    assert mismatches(expected, actual) == [
        "completion.choices[0].message.content: expected 'Hi', got 'Ho'",
        "completion.choices[0].message.tool_calls: expected 1 items, got 0: []",
        "completion.usage.n: missing (expected 1)",
    ]
    assert mismatches({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2], "extra": True}) == []


ACME_PLUGIN = SHARED + '''
PROVIDER = chatplug.Provider(id="acme", base_url="https://acme.invalid/v1", api_key_env=("ACME_TOKEN",),
                             base_url_env="ACME_ENDPOINT", models=("b-1",))


class Acme:
    @chatplug.hookimpl
    def chatplug_providers(self):
        return [PROVIDER]


class TestAcmeConformance(ProviderConformance):
    provider_id = "acme"
    plugin = Acme()
    transcripts = TRANSCRIPTS
    error_samples = [ErrorSample({"error": {"message": "overloaded", "type": "server_error"}}, status=None,
                                 error=chatplug.APIStatusError, retryable=False, name="in-stream")]
'''


def test_the_plugins_own_env_vars_are_scrubbed_even_without_a_key_like_name(
    kit_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a developer's real ACME_TOKEN and ACME_ENDPOINT must not reach the kit's checks
    monkeypatch.setenv("ACME_TOKEN", "tok-from-the-developer-shell")
    monkeypatch.setenv("ACME_ENDPOINT", "https://not-the-fake-server.invalid/v1")
    kit_project.makepyfile(test_acme=ACME_PLUGIN)
    result = kit_project.runpytest("-q", "-p", "no:randomly", "-rf", "-k", "auth_header or error_sample")
    result.assert_outcomes(passed=2)


def test_an_in_stream_error_sample_is_checked_for_not_being_retried(
    kit_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit_project.makepyfile(test_acme=ACME_PLUGIN + '''

class TestRetryCount(TestAcmeConformance):
    def test_sample_sent_once(self, conformance_registry, conformance_server, error_sample):
        self.test_error_sample_maps(conformance_registry, conformance_server, error_sample)
        # the kit sent it once without retries, then once more with max_retries=1, and saw one request
        assert len(conformance_server.requests) == 1
''')
    result = kit_project.runpytest("-q", "-p", "no:randomly", "-rf", "-k", "sample_sent_once")
    result.assert_outcomes(passed=1)
