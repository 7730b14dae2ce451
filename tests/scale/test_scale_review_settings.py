"""Review fixes for limiter settings: a window or a token reserve that could
only fail at the first request is refused when the limiter is built."""

from __future__ import annotations

from typing import Any

import chatplug
import pytest


@pytest.mark.parametrize("window", [None, 0, 1.5, True])
def test_a_window_must_be_whole_seconds(window: Any) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match=r"RateLimit\(window=") as caught:
        chatplug.RateLimit(provider="glm", rpm=5, window=window)
    assert caught.value.param == "window"


@pytest.mark.parametrize("reserve", [-1, "1024", 1.5, None])
def test_reserve_tokens_must_be_a_whole_number(reserve: Any) -> None:
    with pytest.raises(chatplug.InvalidRequestError, match="reserve_tokens=") as caught:
        chatplug.Limiter([chatplug.RateLimit(provider="glm", tpm=10_000)], reserve_tokens=reserve)
    assert caught.value.param == "reserve_tokens"


def test_the_defaults_and_zero_reserve_are_fine() -> None:
    assert chatplug.RateLimit(provider="glm", rpm=5).window == 60
    assert chatplug.Limiter([chatplug.RateLimit(provider="glm", tpm=10_000)], reserve_tokens=0).reserve_tokens == 0
