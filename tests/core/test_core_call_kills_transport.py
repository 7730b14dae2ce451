"""The plain-http warning, exactly: its text, its log line, once per host, never
for loopback or https. Written to kill mutants of ``_transport.warn_insecure``
that ``tox -e mutation`` left alive (see docs/mutation.md). A mock transport
answers, so no remote host is ever contacted."""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from pathlib import Path

import chatplug
import httpx
import pytest
from core_support import API_KEY, MESSAGES, completion_body


def calls_to(base_urls: list[str], registry: chatplug.PluginRegistry) -> tuple[list[str], list[str]]:
    """One call to each base URL through a real client; the warnings raised and the requests' URLs."""
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=completion_body())

    with warnings.catch_warnings(record=True) as caught, httpx.Client(transport=httpx.MockTransport(answer)) as lent:
        warnings.simplefilter("always")
        for base_url in base_urls:
            with chatplug.Client(provider="testprov", api_key=API_KEY, base_url=base_url, registry=registry,
                                 http_client=lent) as client:
                client.chat.completions.create(model="t-1", messages=MESSAGES)  # the line a warning names
    assert all(item.category is UserWarning for item in caught)
    # The warning points at a line outside chatplug (the exact line: the test below).
    package = os.path.dirname(os.path.abspath(chatplug.__file__)) + os.sep
    assert [item.filename for item in caught if item.filename.startswith(package)] == []
    LOCATIONS[:] = [(item.filename, item.lineno) for item in caught]
    return [str(item.message) for item in caught], seen


#: Where the warnings of the last ``calls_to`` pointed.
LOCATIONS: list[tuple[str, int]] = []
CALL_LINE = next(number for number, line in enumerate(Path(__file__).read_text(encoding="utf-8").splitlines(), 1)
                 if line.rstrip().endswith("# the line a warning names"))


def fresh_host(label: str) -> str:
    """A host no other test used: the warning is given once per host per process."""
    return f"{label}-{uuid.uuid4().hex[:8]}.example.net"


def test_a_key_sent_over_plain_http_warns_once_per_host_and_logs_it(
    registry: chatplug.PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    host = fresh_host("gw")
    urls = [f"http://{host}/v1", f"http://{host}/v1", f"http://{host}/other/v1", f"http://{host}:8080/v1"]
    with caplog.at_level(logging.WARNING, logger="chatplug"):
        messages, seen = calls_to(urls, registry)
    expected = f"chatplug: sending an API key over plain http to {host}; use https"
    assert messages == [expected]
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [("chatplug", logging.WARNING, expected)]
    assert seen == [f"{url}/chat/completions" for url in urls]  # warned, and sent anyway


def test_each_new_host_gets_its_own_warning(registry: chatplug.PluginRegistry) -> None:
    first, second = fresh_host("one"), fresh_host("two")
    messages, _ = calls_to([f"http://{first}/v1", f"http://{second}/v1", f"http://{first}/v2"], registry)
    assert messages == [
        f"chatplug: sending an API key over plain http to {first}; use https",
        f"chatplug: sending an API key over plain http to {second}; use https",
    ]


@pytest.mark.parametrize(
    "base_url",
    ["https://{host}/v1", "http://localhost:9/{path}/v1", "http://[::1]:9/{path}/v1", "http://127.0.0.1:9/{path}/v1",
     "http://127.8.9.10/{path}/v1"],
    ids=["https", "localhost", "ipv6-loopback", "ipv4-loopback", "other-127"],
)
def test_https_and_loopback_never_warn(registry: chatplug.PluginRegistry, base_url: str) -> None:
    # A URL no other test used: each URL is checked once per process, so a seen one would prove nothing.
    messages, seen = calls_to([base_url.format(host=fresh_host("tls"), path=uuid.uuid4().hex)], registry)
    assert messages == []
    assert len(seen) == 1


def test_a_name_that_only_looks_like_loopback_warns(registry: chatplug.PluginRegistry) -> None:
    """Names resolve anywhere: only the name localhost and loopback addresses are spared."""
    looks_numeric, looks_local = f"127.{fresh_host('dns')}", f"localhost.{fresh_host('dns')}"
    messages, _ = calls_to([f"http://{looks_numeric}/v1", f"http://{looks_local}/v1"], registry)
    assert messages == [
        f"chatplug: sending an API key over plain http to {looks_numeric}; use https",
        f"chatplug: sending an API key over plain http to {looks_local}; use https",
    ]


def test_the_warning_names_the_line_that_made_the_call(registry: chatplug.PluginRegistry) -> None:
    """Not the line inside chatplug that noticed the plain http: the user's own call."""
    messages, _ = calls_to([f"http://{fresh_host('line')}/v1"], registry)
    assert len(messages) == 1
    assert [tuple(location) for location in LOCATIONS] == [(__file__, CALL_LINE)]
