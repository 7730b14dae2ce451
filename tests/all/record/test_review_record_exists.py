"""``record`` refuses an existing file *before* the request, as docs/recording.md says.

It used to send the request (a paid call on a real provider), then refuse to
write the answer: the response was lost and the exit code said "bad arguments".
"""

from __future__ import annotations

from pathlib import Path

from chatplug.testing import FakeServer, Reply
from record_support import SECRET_KEY, run_module

COMPLETION = {
    "id": "x1", "object": "chat.completion", "created": 1, "model": "glm-4.5",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
}


def test_an_existing_default_name_is_refused_before_the_request(server: FakeServer, tmp_path: Path) -> None:
    existing = tmp_path / "glm-nonstream-glm-4.5.json"
    existing.write_text("{}", encoding="utf-8")
    server.add(Reply.json(COMPLETION))
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--base-url", server.base_url,
                       "--out", str(tmp_path)], env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 2
    assert f"{existing} exists; pick another --name or pass --force to replace it" in done.stderr
    assert server.requests == []
    assert existing.read_text(encoding="utf-8") == "{}"


def test_an_existing_name_is_refused_before_the_request(server: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "mine.sse").write_text("data: [DONE]\n\n", encoding="utf-8")
    server.add(Reply.json(COMPLETION))
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--name", "mine",
                       "--base-url", server.base_url, "--out", str(tmp_path)], env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 2
    assert server.requests == []


def test_force_still_records_over_an_existing_file(server: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "glm-nonstream-glm-4.5.json").write_text("{}", encoding="utf-8")
    server.add(Reply.json(COMPLETION))
    done = run_module(["record", "--provider", "glm", "--model", "glm-4.5", "--base-url", server.base_url,
                       "--out", str(tmp_path), "--force"], env={"ZAI_API_KEY": SECRET_KEY})
    assert done.returncode == 0, done.stderr
    assert len(server.requests) == 1
    assert b'"content": "Hello"' in (tmp_path / "glm-nonstream-glm-4.5.json").read_bytes()
