"""``python -m chatplug.testing live``: without keys it skips and says so; with
a key (here pointed at the loopback server through the provider's own base-URL
variable) it records the standard set, runs ProviderConformance on it and
reports the shape differences from the stored fixtures."""

from __future__ import annotations

import json
from pathlib import Path

from chatplug.testing import FakeServer, Reply
from chatplug.testing._live import compare_shapes, shape_of
from record_support import FIXTURES, SECRET_KEY, crlf_with_keepalives, every_recorded_byte, run_module

#: A GLM error body in the documented form (code 1211: unknown model); written for this test, not recorded.
UNKNOWN_MODEL = {"error": {"code": "1211", "message": "Unknown Model, please check the model code."}}


def test_without_keys_it_skips_and_says_so(tmp_path: Path) -> None:
    done = run_module(["live", "--out", str(tmp_path / "out")])
    assert done.returncode == 0, done.stderr
    assert "no provider key is set (looked for " in done.stdout
    assert "ZAI_API_KEY" in done.stdout and "MOONSHOT_API_KEY" in done.stdout
    assert "nothing recorded" in done.stdout
    assert not (tmp_path / "out").exists()


def test_with_a_key_it_records_checks_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    plain = json.loads((FIXTURES / "glm-nonstream-reasoning.json").read_bytes())
    plain["live_only_field"] = "x"  # a field the stored fixtures never had: the report must name it
    with FakeServer() as server:
        server.add(
            Reply.json(plain),
            Reply.sse_bytes(crlf_with_keepalives((FIXTURES / "glm-stream-reasoning-glm45.sse").read_bytes())),
            Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"),
            Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"),
            Reply.error(400, UNKNOWN_MODEL),
        )
        done = run_module(["live", "--out", str(out), "--provider", "glm", "--fixtures", str(FIXTURES)],
                          env={"ZAI_API_KEY": SECRET_KEY, "ZAI_BASE_URL": server.base_url})
        sent = [request.json() for request in server.requests]
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(body["model"], bool(body.get("stream"))) for body in sent] == [
        ("glm-4.5-flash", False), ("glm-4.5-flash", True), ("glm-4.5-flash", True), ("glm-4.5-flash", True),
        ("chatplug-no-such-model", False)]
    assert sent[2]["thinking"] == {"type": "enabled"}
    assert sent[3]["tools"][0]["function"]["name"] == "get_weather"
    names = sorted(path.name for path in (out / "glm").iterdir())
    assert names == sorted([
        "glm-live-plain.json", "glm-live-plain.source.txt", "glm-live-stream.sse", "glm-live-stream.source.txt",
        "glm-live-reasoning.sse", "glm-live-reasoning.source.txt", "glm-live-tool.sse", "glm-live-tool.source.txt",
        "glm-live-error.json", "glm-live-error.source.txt", "test_live_conformance.py"])
    report = (out / "report.md").read_text()
    assert report in done.stdout
    assert "- plain: HTTP 200, glm-live-plain.json; chatplug read: ChatCompletion (finish_reason=stop)" in report
    assert "- error: HTTP 400, glm-live-error.json; chatplug read: NotFoundError: glm, HTTP 400, code 1211" in report
    assert "fields in the live response, in no stored fixture: completion.live_only_field (str)" in report
    assert ("stream framing new live: CRLF line endings, keep-alive comments; stored: LF line endings, "
            "data: [DONE]") in report
    assert "- glm-live-error.json (error, against 1): same shape" in report
    assert "- glm-live-tool.sse (stream, against 2): same shape" in report
    assert "ProviderConformance on the new recordings: passed" in report
    for path, data in every_recorded_byte(out):
        assert SECRET_KEY.encode() not in data, f"the key leaked into {path.name}"


def test_a_failing_conformance_run_fails_the_command(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with FakeServer() as server:
        # a stream whose first data line is not JSON: chatplug cannot decode it, live or replayed
        broken = Reply.sse_bytes(b"data: {not json\n\ndata: [DONE]\n\n")
        server.add(Reply.json((FIXTURES / "glm-nonstream-reasoning.json").read_bytes()), broken,
                   Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse"),
                   Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"), Reply.error(400, UNKNOWN_MODEL))
        done = run_module(["live", "--out", str(out), "--provider", "glm", "--fixtures", str(FIXTURES)],
                          env={"ZAI_API_KEY": SECRET_KEY, "ZAI_BASE_URL": server.base_url})
    assert done.returncode == 1
    assert "- stream: HTTP 200, glm-live-stream.sse; chatplug read: APIResponseValidationError" in done.stdout


def test_shape_comparison_names_usage_placement_and_finish_reasons() -> None:
    stored = shape_of(FIXTURES / "glm-stream-tool-call.sse")
    kimi = shape_of(FIXTURES / "kimi-stream-k2-0905.sse")
    assert stored is not None and kimi is not None
    assert stored.usage == {"top-level usage on the finish chunk"}
    assert kimi.usage == {"usage inside choices[]"}
    lines = compare_shapes(kimi, [stored])
    assert "usage live: usage inside choices[]; stored: top-level usage on the finish chunk" in lines
    assert "finish reasons live ['stop'], stored ['tool_calls']" in lines
    assert compare_shapes(stored, [stored]) == []


def test_a_config_provider_is_recorded_and_compared_without_the_kit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with FakeServer() as server:
        config = tmp_path / "providers.toml"
        config.write_text(f'[[providers]]\nid = "acme"\nbase_url = "{server.base_url}"\n'
                          f'api_key_env = "ACME_TOKEN"\nmodels = ["acme-1"]\n')
        stream = Reply.sse_file(FIXTURES / "glm-stream-reasoning-glm45.sse")
        server.add(Reply.json((FIXTURES / "glm-nonstream-reasoning.json").read_bytes()), stream, stream,
                   Reply.sse_file(FIXTURES / "glm-stream-tool-call.sse"), Reply.error(404, UNKNOWN_MODEL))
        done = run_module(["live", "--out", str(out), "--provider", "acme", "--fixtures", str(FIXTURES)],
                          env={"CHATPLUG_CONFIG": str(config), "ACME_TOKEN": SECRET_KEY})
        assert [r.json()["model"] for r in server.requests] == ["acme-1"] * 4 + ["chatplug-no-such-model"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ProviderConformance: skipped (the provider comes from no installed plugin" in done.stdout
    assert "- glm-live" not in done.stdout
    assert "- acme-live-plain.json (completion, against 0): differs" in done.stdout
    assert "no stored completion fixture to compare with" in done.stdout
