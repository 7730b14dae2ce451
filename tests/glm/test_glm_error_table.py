"""The README's error-code table, row by row, over loopback HTTP.

The rows are read from ``plugins/glm/README.md`` itself, so the table users
read is the table that is tested: each code is sent with the status it is
listed with, and the test asserts the class raised and how many requests the
server received (1 when not retried, 1 + max_retries when retried). A second
pass sends every code that must not be retried as HTTP 429, the way Z.ai
sends account problems, and asserts one request only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from chatplug_glm._errors import ERROR_CODES, map_glm_error
from glm_support import MESSAGES

README = Path(__file__).resolve().parents[2] / "plugins" / "glm" / "README.md"
MAX_RETRIES = 2
_ROW = re.compile(r"^\|\s*(\d+)\s*\|[^|]*\|\s*`(\w+)`\s*\|\s*(yes|no)\s*\|\s*(\d{3})\s*\|\s*$")


class Row(NamedTuple):
    code: str
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
            code, name, retried, status = match.groups()
            rows.append(Row(code, getattr(chatplug, name), retried == "yes", int(status)))
    return rows


ROWS = readme_rows()
NOT_RETRIED = [row for row in ROWS if not row.retried]


def test_readme_table_is_the_mapping() -> None:
    """Every row of the README is the plugin's mapping, and every mapped code has a row."""
    assert len(ROWS) == len(ERROR_CODES) >= 39
    for row in ROWS:
        rule = ERROR_CODES[row.code]
        assert (rule.cls, rule.retried, rule.status) == (row.cls, row.retried, row.status), row.code


def test_account_codes_sent_as_429_are_listed_as_not_retried() -> None:
    """The codes issue 10 names: account problems Z.ai sends as 429 are never retried."""
    for code in ("1110", "1111", "1112", "1113", "1120", "1121", "1304", "1308", "1309", "1310", "1311", "1313"):
        assert code in {row.code for row in NOT_RETRIED}, code


def _body(code: str, *, as_int: bool = False) -> dict[str, object]:
    return {"error": {"code": int(code) if as_int else code, "message": f"GLM says {code}"}}


@pytest.mark.parametrize("row", ROWS, ids=[row.code for row in ROWS])
def test_row_sync(client: chatplug.Client, server: FakeServer, row: Row) -> None:
    server.default = Reply.error(row.status, _body(row.code))
    with pytest.raises(chatplug.APIStatusError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    error = caught.value
    assert type(error) is row.cls
    assert (error.code, error.status_code, error.provider) == (row.code, row.status, "glm")
    assert error.message == f"GLM says {row.code}"
    assert error.retryable is row.retried
    assert len(server.requests) == (1 + MAX_RETRIES if row.retried else 1)


@pytest.mark.anyio
@pytest.mark.parametrize("row", ROWS, ids=[row.code for row in ROWS])
async def test_row_async_integer_code(aclient: chatplug.AsyncClient, server: FakeServer, row: Row) -> None:
    """The same rows, async, with the code sent as a JSON integer."""
    server.default = Reply.error(row.status, _body(row.code, as_int=True))
    with pytest.raises(chatplug.APIStatusError) as caught:
        await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is row.cls
    assert caught.value.code == row.code
    assert len(server.requests) == (1 + MAX_RETRIES if row.retried else 1)


@pytest.mark.parametrize("row", NOT_RETRIED, ids=[row.code for row in NOT_RETRIED])
def test_not_retried_even_as_429(client: chatplug.Client, server: FakeServer, row: Row) -> None:
    server.default = Reply.error(429, _body(row.code))
    with pytest.raises(row.cls):
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert len(server.requests) == 1
    assert len(client._sleep) == 0  # type: ignore[arg-type]  # no retry was waited for


@pytest.mark.parametrize("row", NOT_RETRIED, ids=[row.code for row in NOT_RETRIED])
def test_not_retried_before_a_stream(client: chatplug.Client, server: FakeServer, row: Row) -> None:
    server.default = Reply.error(429, _body(row.code))
    with pytest.raises(row.cls):
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("code", "status", "cls", "retried"),
    [
        ("1005", 401, chatplug.AuthenticationError, False),  # undocumented, authentication range
        ("1199", 429, chatplug.PermissionDeniedError, False),  # undocumented, account range: never retried
        ("1299", 400, chatplug.BadRequestError, False),  # other ranges: by HTTP status
        ("1399", 429, chatplug.RateLimitError, True),
        ("abc", 503, chatplug.InternalServerError, True),
    ],
)
def test_unknown_codes(
    client: chatplug.Client, server: FakeServer, code: str, status: int, cls: type[chatplug.APIStatusError],
    retried: bool,
) -> None:
    server.default = Reply.error(status, {"error": {"code": code, "message": "?"}})
    with pytest.raises(chatplug.APIStatusError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is cls
    assert caught.value.code == code
    assert len(server.requests) == (1 + MAX_RETRIES if retried else 1)


def test_code_with_spaces_and_non_codes() -> None:
    error = map_glm_error(429, {"error": {"code": " 1113 ", "message": "m"}}, {})
    assert isinstance(error, chatplug.QuotaExceededError) and error.code == "1113"
    assert map_glm_error(429, {"error": {"code": True, "message": "m"}}, {}) is None
    assert map_glm_error(429, {"error": {"code": "", "message": "m"}}, {}) is None
