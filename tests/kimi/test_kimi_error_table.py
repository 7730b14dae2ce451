"""The README's error table, row by row, over loopback HTTP.

Rows are read from ``plugins/kimi/README.md``: each documented type and
message is sent with its documented status, and the test asserts the class
raised and how many requests the server received (1 when not retried,
1 + max_retries when retried). Every row that must not be retried is sent
again as HTTP 429 and must still cost one request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_kimi._errors import ERROR_RULES, rule_for

README = Path(__file__).resolve().parents[2] / "plugins" / "kimi" / "README.md"
MAX_RETRIES = 2
MESSAGES = [{"role": "user", "content": "Hi"}]
_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*`(\w+)`\s*\|\s*(yes|no)\s*\|\s*(\d{3})\s*\|\s*$")


class Row(NamedTuple):
    kind: str
    message: str
    cls: type[chatplug.APIStatusError]
    retried: bool
    status: int


def readme_rows() -> list[Row]:
    """The rows of the README's "## Errors" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            kind, message, name, retried, status = match.groups()
            rows.append(Row(kind, message.strip(), getattr(chatplug, name), retried == "yes", int(status)))
    return rows


ROWS = readme_rows()
IDS = [f"{row.kind}-{i}" for i, row in enumerate(ROWS)]
NOT_RETRIED = [row for row in ROWS if not row.retried]
NOT_RETRIED_IDS = [f"{row.kind}-{i}" for i, row in enumerate(NOT_RETRIED)]


def test_readme_covers_every_documented_type() -> None:
    assert {row.kind for row in ROWS} == set(ERROR_RULES)
    assert len(ROWS) >= 17
    for row in ROWS:
        rule = rule_for(row.kind, row.message)
        assert rule is not None and (rule.cls, rule.retried) == (row.cls, row.retried), row


def _reply(row: Row, status: int) -> Reply:
    return Reply.error(status, {"error": {"message": row.message, "type": row.kind}})


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_row_sync(client: chatplug.Client, server: FakeServer, row: Row) -> None:
    server.default = _reply(row, row.status)
    with pytest.raises(chatplug.APIStatusError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    error = caught.value
    assert type(error) is row.cls
    assert (error.code, error.status_code, error.provider, error.message) == (
        row.kind, row.status, "kimi", row.message
    )
    assert error.retryable is row.retried
    assert len(server.requests) == (1 + MAX_RETRIES if row.retried else 1)


@pytest.mark.anyio
@pytest.mark.parametrize("row", ROWS, ids=IDS)
async def test_row_async(aclient: chatplug.AsyncClient, server: FakeServer, row: Row) -> None:
    server.default = _reply(row, row.status)
    async with aclient:
        with pytest.raises(chatplug.APIStatusError) as caught:
            await aclient.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert type(caught.value) is row.cls
    assert len(server.requests) == (1 + MAX_RETRIES if row.retried else 1)


@pytest.mark.parametrize("row", NOT_RETRIED, ids=NOT_RETRIED_IDS)
def test_not_retried_even_as_429(
    client: chatplug.Client, server: FakeServer, sleeps: list[float], row: Row
) -> None:
    server.default = _reply(row, 429)
    with pytest.raises(row.cls):
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES, stream=True)
    assert len(server.requests) == 1
    assert sleeps == []


def test_undocumented_type_falls_back_to_status(client: chatplug.Client, server: FakeServer) -> None:
    server.default = Reply.error(503, {"error": {"message": "busy", "type": "server_unavailable"}})
    with pytest.raises(chatplug.InternalServerError) as caught:
        client.chat.completions.create(model="kimi-k2-0905-preview", messages=MESSAGES)
    assert caught.value.code == "server_unavailable"  # the core keeps the type as the code
    assert len(server.requests) == 1 + MAX_RETRIES
