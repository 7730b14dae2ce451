"""``--debug`` hides a key sent in a provider's own header, not only ``Authorization`` (issue 11).

The provider comes from a third-party distribution laid out in a temporary
directory on ``PYTHONPATH``: found through its entry point like any installed plugin.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from chatplug.testing import FakeServer, Reply
from cli_support import SECRET_KEY, run

HEADER = "X-Hdr-Api-Key"

PLUGIN = f'''
import chatplug

PROVIDER = chatplug.Provider(
    id="hdrprov", base_url="https://hdrprov.invalid/v1", api_key_env=("HDRPROV_API_KEY",),
    models=("hdr-1",), auth_header="{HEADER}", auth_scheme="",
)

@chatplug.hookimpl
def chatplug_providers():
    return [PROVIDER]
'''

COMPLETION = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "hdr-1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@pytest.fixture
def plugin_site(tmp_path: Path) -> Path:
    info = tmp_path / "chatplug_hdrprov-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chatplug-hdrprov\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[chatplug]\nhdrprov = cp_hdrprov\n")
    (tmp_path / "cp_hdrprov.py").write_text(textwrap.dedent(PLUGIN))
    return tmp_path


@pytest.mark.parametrize("key_from", ["env", "flag"])
def test_debug_redacts_a_custom_auth_header(server: FakeServer, plugin_site: Path, key_from: str) -> None:
    server.add(Reply.json(COMPLETION))
    args = ["chat", "hi", "-m", "hdrprov/hdr-1", "--no-stream", "--base-url", server.base_url, "--debug"]
    env = {"PYTHONPATH": str(plugin_site)}
    if key_from == "flag":
        args += ["--api-key", SECRET_KEY]
    else:
        env["HDRPROV_API_KEY"] = SECRET_KEY
    result = run(args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fine\n"
    assert server.requests[0].headers[HEADER.lower()] == SECRET_KEY  # sent as declared, no scheme
    assert f'"{HEADER}": "***"' in result.stderr
    assert "request headers: " in result.stderr
    assert SECRET_KEY not in result.stderr + result.stdout


def test_debug_redacts_a_custom_auth_header_echoed_in_an_error(server: FakeServer, plugin_site: Path) -> None:
    server.add(Reply.error(401, {"error": {"message": f"key {SECRET_KEY} rejected", "keys": [SECRET_KEY]}}))
    result = run(["chat", "hi", "-m", "hdrprov/hdr-1", "--base-url", server.base_url, "--debug"],
                 env={"PYTHONPATH": str(plugin_site), "HDRPROV_API_KEY": SECRET_KEY})
    assert result.returncode == 1
    assert "Traceback" in result.stderr  # --debug shows it
    assert result.stderr.rstrip().splitlines()[-1] == (
        "chatplug: error: hdrprov, HTTP 401: key *** rejected (hint: check HDRPROV_API_KEY; "
        "keys only work on the endpoint (region, plan) they were issued for)"
    )
    assert SECRET_KEY not in result.stderr + result.stdout
