"""An error body that is neither JSON nor UTF-8 is kept as text, and an observer
that raises is logged by name and skipped. Written to kill mutants of
``_transport.decode_body`` and ``_transport.notify`` that ``tox -e mutation``
left alive (see docs/mutation.md)."""

from __future__ import annotations

import logging

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from core_support import MESSAGES, completion_body


def test_an_error_body_that_is_not_utf8_is_kept_with_replacement_characters(
    client: chatplug.Client, server: FakeServer
) -> None:
    """Nothing a server sent is lost: the bad bytes become U+FFFD, the rest stays as sent."""
    server.add(Reply.error(400, b"bad \xff\xfe request <html>"))
    with pytest.raises(chatplug.BadRequestError) as caught:
        client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert caught.value.body == "bad \ufffd\ufffd request <html>"
    assert caught.value.status_code == 400


class Raising:
    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        raise RuntimeError("observer bug")


class Counting:
    def __init__(self) -> None:
        self.seen = 0

    @chatplug.hookimpl
    def chatplug_on_request(self, request: chatplug.RequestEvent) -> None:
        self.seen += 1


def test_an_observer_that_raises_is_logged_by_name_and_the_call_goes_on(
    client: chatplug.Client, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    counting = Counting()
    client.registry.register(counting, "counting-observer")
    client.registry.register(Raising(), "raising-observer")
    server.add(Reply.json(completion_body("still here")))
    with caplog.at_level(logging.ERROR, logger="chatplug"):
        reply = client.chat.completions.create(model="t-1", messages=MESSAGES)
    assert reply.choices[0].message.content == "still here"
    assert counting.seen == 1
    [record] = [r for r in caplog.records if r.name == "chatplug"]
    assert record.getMessage() == "chatplug observer raising-observer.chatplug_on_request raised; ignored"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and str(record.exc_info[1]) == "observer bug"
