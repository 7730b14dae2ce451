"""GLM error codes sent as JSON integers map exactly like the documented string codes (issue 11).

Z.ai documents ``"code": "1113"``; some gateways and older endpoints send
``"code": 1113``. Both must give the same class, the same ``code`` string, the
same retry decision and the same number of requests on the wire. The cases are
data: add a row per code; every row is checked both ways, sync and async.
"""

from __future__ import annotations

from typing import Any

import chatplug
import pytest
from chatplug.testing import FakeServer, Reply
from glm_support import MESSAGES

# (code, HTTP status it arrives with, class, retried by the client)
CODES = [
    (1113, 429, chatplug.QuotaExceededError, False),
    (1302, 429, chatplug.RateLimitError, True),
    (1301, 400, chatplug.ContentFilterError, False),
]
MAX_RETRIES = 2


def glm_body(code: int | str) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"GLM error {code}"}}


def requests_for(retried: bool) -> int:
    return 1 + MAX_RETRIES if retried else 1


@pytest.mark.parametrize(("code", "status", "cls", "retried"), CODES, ids=[str(row[0]) for row in CODES])
@pytest.mark.parametrize("form", ["integer", "string"])
def test_integer_and_string_codes_map_alike(
    client: chatplug.Client, server: FakeServer, form: str, code: int, status: int,
    cls: type[chatplug.APIStatusError], retried: bool,
) -> None:
    sent = code if form == "integer" else str(code)
    server.default = Reply.error(status, glm_body(sent))
    client.max_retries = MAX_RETRIES
    with pytest.raises(chatplug.APIError) as caught:
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, chatplug.APIStatusError)
    assert error.code == str(code)
    assert error.provider == "glm"
    assert error.status_code == status
    assert error.retryable is retried
    assert error.body == glm_body(sent)  # the body stays as sent: the integer is not rewritten
    assert len(server.requests) == requests_for(retried)


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "status", "cls", "retried"), CODES, ids=[str(row[0]) for row in CODES])
async def test_integer_codes_map_alike_async(
    aclient: chatplug.AsyncClient, server: FakeServer, code: int, status: int,
    cls: type[chatplug.APIStatusError], retried: bool,
) -> None:
    server.default = Reply.error(status, glm_body(code))
    with pytest.raises(chatplug.APIError) as caught:
        await aclient.chat.completions.create(model="glm-4.6", messages=MESSAGES)
    assert type(caught.value) is cls
    assert isinstance(caught.value, chatplug.APIStatusError) and caught.value.code == str(code)
    assert len(server.requests) == requests_for(retried)


@pytest.mark.parametrize(("code", "status", "cls", "retried"), CODES, ids=[str(row[0]) for row in CODES])
def test_integer_code_inside_a_stream_maps_alike(
    client: chatplug.Client, server: FakeServer, code: int, status: int,
    cls: type[chatplug.APIStatusError], retried: bool,
) -> None:
    server.add(Reply.sse([glm_body(code)], done=False))
    with (
        pytest.raises(chatplug.APIError) as caught,
        client.chat.completions.create(model="glm-4.6", messages=MESSAGES, stream=True) as stream,
    ):
        for _ in stream:
            pass
    assert type(caught.value) is cls
    assert isinstance(caught.value, chatplug.APIStatusError) and caught.value.code == str(code)
    assert len(server.requests) == 1  # an error inside a stream is never retried

