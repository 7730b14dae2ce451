"""``chatplug chat`` applies each model's catalog before sending anything (the real command, in a subprocess)."""

from __future__ import annotations

from chatplug.testing import FakeServer, Reply
from cli_support import FIXTURES, SECRET_KEY, assert_one_line_error, run, transcript_text

GLM_KEY = {"ZAI_API_KEY": SECRET_KEY}
KIMI_KEY = {"MOONSHOT_API_KEY": SECRET_KEY}


def test_a_model_without_thinking_is_never_sent_the_switch(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "glm-4-32b-0414-128k", "-o", 'thinking={"type": "enabled"}',
                  "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 2
    line = assert_one_line_error(result.stderr)
    assert "glm-4-32b-0414-128k does not think" in line and "thinking" in line
    assert server.requests == []


def test_a_fixed_temperature_is_refused_before_sending(server: FakeServer) -> None:
    result = run(["chat", "hi", "-m", "kimi-k2.5", "--temperature", "0.3", "--base-url", server.base_url],
                 env=KIMI_KEY)
    assert result.returncode == 2
    assert "kimi-k2.5 fixes temperature at 1.0" in assert_one_line_error(result.stderr)
    assert server.requests == []


def test_a_thinking_model_shows_its_reasoning_with_no_switch_sent(server: FakeServer) -> None:
    server.add(Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"))
    result = run(["chat", "hi", "-m", "glm-4.5", "--base-url", server.base_url], env=GLM_KEY)
    assert result.returncode == 0, result.stderr
    assert transcript_text("glm-stream-reasoning-glm45.sse", "reasoning_content") in result.stderr
    assert "thinking" not in server.last_request.json(), "glm-4.5 thinks by default: nothing to switch on"
