"""The ``chatplug_cassette`` pytest fixture, seen from a pytester sub-session:
record on request, replay with no key, fail on a changed request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chatplug.testing import FakeServer, Reply
from record_support import FIXTURES, SECRET_KEY

pytest_plugins = ["pytester"]

APP_TEST = '''
import os

import chatplug
import pytest


def test_summary(chatplug_cassette):
    with chatplug.Client(provider="glm", base_url=os.environ["APP_BASE_URL"], max_retries=0) as client:
        with client.chat.completions.create(model="glm-4.5", messages=[{"role": "user", "content": PROMPT}],
                                            stream=True) as stream:
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "\\n\\nHi!"


@pytest.mark.chatplug_cassette("shared/named.json", match_on=["provider", "model"])
def test_marker_path(chatplug_cassette):
    assert chatplug_cassette.path.name == "named.json"
    assert chatplug_cassette.match_on == ("provider", "model")
'''


def _write_app(pytester: pytest.Pytester, prompt: str) -> None:
    pytester.makeconftest('pytest_plugins = ["chatplug.testing"]')
    pytester.makepyfile(test_app=f"PROMPT = {prompt!r}\n" + APP_TEST)


def test_fixture_records_when_asked_then_replays_then_fails_on_a_change(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHATPLUG_RECORD", raising=False)
    _write_app(pytester, "Hi there")
    cassette = pytester.path / "cassettes" / "test_app" / "test_summary.json"
    with FakeServer() as server:
        monkeypatch.setenv("APP_BASE_URL", server.base_url)
        # without a record mode: nothing recorded, the test fails saying how to record
        result = pytester.runpytest("-q", "-p", "no:randomly", "-k", "summary")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*holds no calls (the file does not exist)*"])
        assert server.requests == [] and not cassette.exists()
        # first run with the key and an explicit record mode: recorded
        monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
        server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
        result = pytester.runpytest("-q", "-p", "no:randomly", "--chatplug-record=once")
        result.assert_outcomes(passed=2)
        assert len(server.requests) == 1
    assert SECRET_KEY not in cassette.read_text()
    assert json.loads(cassette.read_text())["interactions"][0]["model"] == "glm-4.5"
    # after: no key, no server, replayed
    monkeypatch.delenv("ZAI_API_KEY")
    result = pytester.runpytest("-q", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    # a changed prompt: the test fails naming the field
    _write_app(pytester, "Hello")
    before = cassette.read_bytes()
    result = pytester.runpytest("-q", "-p", "no:randomly", "-k", "summary")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*body.messages[[]0[]].content: recorded 'Hi there', sent 'Hello'*"])
    assert cassette.read_bytes() == before


def test_record_mode_from_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    _write_app(pytester, "Hi there")
    with FakeServer() as server:
        monkeypatch.setenv("APP_BASE_URL", server.base_url)
        monkeypatch.setenv("ZAI_API_KEY", SECRET_KEY)
        monkeypatch.setenv("CHATPLUG_RECORD", "once")
        server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
        result = pytester.runpytest("-q", "-p", "no:randomly", "-k", "summary")
        result.assert_outcomes(passed=1)
        assert len(server.requests) == 1
    assert (pytester.path / "cassettes" / "test_app" / "test_summary.json").is_file()
