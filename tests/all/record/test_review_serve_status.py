"""Replaying the project's own hand-written fixtures with their real status.

Those sidecars give the status as ``HTTP status: 429.`` (no ``Response:``
line). ``serve`` and ``Reply.recorded`` sent them as 400, so an app tested
against ``python -m chatplug.testing serve tests/glm/fixtures/`` saw the wrong
status (and chatplug mapped code 1113 from a 400, not the 429 Z.ai sends).
"""

from __future__ import annotations

from pathlib import Path

import chatplug
import httpx
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug.testing._replay import load_recording

ROOT = Path(__file__).resolve().parents[3]
GLM_ARREARS = ROOT / "tests" / "glm" / "fixtures" / "glm-error-1113-arrears-zh.json"


def test_hand_written_http_status_line_gives_the_status() -> None:
    assert "HTTP status: 429." in GLM_ARREARS.with_name("glm-error-1113-arrears-zh.source.txt").read_text("utf-8")
    assert load_recording(GLM_ARREARS).status == 429


def test_served_hand_written_fixture_carries_its_status(server: FakeServer) -> None:
    server.add(Reply.recorded(GLM_ARREARS))
    response = httpx.post(server.base_url + "/chat/completions", json={"model": "glm-4.6", "messages": []})
    assert response.status_code == 429
    assert response.content == GLM_ARREARS.read_bytes()


def test_chatplug_reads_the_served_fixture_as_the_provider_sent_it(server: FakeServer) -> None:
    server.add(Reply.recorded(GLM_ARREARS))
    with chatplug.Client(provider="glm", api_key="sk-review-0000000000", base_url=server.base_url,
                         max_retries=0) as client, pytest.raises(chatplug.QuotaExceededError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
    assert (caught.value.status_code, caught.value.code) == (429, "1113")
    assert len(server.requests) == 1


def test_a_status_line_without_a_number_falls_back(tmp_path: Path) -> None:
    body = tmp_path / "x-error.json"
    body.write_text('{"error": {"code": "1301", "message": "unsafe"}}', encoding="utf-8")
    tmp_path.joinpath("x-error.source.txt").write_text(
        "Source: a doc page.\nHTTP status: not printed in that issue; 429 elsewhere.\n", encoding="utf-8"
    )
    assert load_recording(body).status == 400
