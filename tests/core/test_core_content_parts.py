"""chatplug.normalize.canonical_message_parts: typed content parts and a
``reasoning`` field folded into the canonical strings (no plugin needed)."""

from __future__ import annotations

from typing import Any

import pytest
from chatplug.normalize import canonical_message_parts, needs_part_normalizing, thinking_text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}, {"text": "b"}]},
         {"content": "ab", "reasoning_content": "t"}),
        ({"content": [{"type": "thinking", "text": "from text"}]}, {"content": None, "reasoning_content": "from text"}),
        ({"content": [{"type": "reasoning", "thinking": [{"type": "text", "text": "x"}, "y"]}]},
         {"content": None, "reasoning_content": "xy"}),
        ({"content": [], "reasoning_content": "r"}, {"content": None, "reasoning_content": "r"}),
        ({"content": ["plain ", {"type": "text", "text": "string"}]}, {"content": "plain string"}),
        ({"content": "x", "reasoning": "r"}, {"content": "x", "reasoning_content": "r"}),
        ({"reasoning": "same", "reasoning_content": "same"}, {"reasoning_content": "same"}),
        ({"reasoning": "b", "reasoning_content": "a"}, {"reasoning": "b", "reasoning_content": "a"}),
        ({"reasoning": "r", "reasoning_content": None}, {"reasoning_content": "r"}),
        ({"content": [{"type": "thinking", "thinking": "+t"}], "reasoning_content": "a"},
         {"content": None, "reasoning_content": "a+t"}),
        ({"reasoning": None}, {"reasoning": None}),
    ],
)
def test_folding(message: dict[str, Any], expected: dict[str, Any]) -> None:
    assert canonical_message_parts(message) == expected


def test_unknown_parts_keep_the_original_list() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "u"}}, {"type": "text", "text": "a"}, 3]
    assert canonical_message_parts({"content": parts}) == {"content": "a", "content_parts": parts}


def test_thinking_part_without_text_is_kept() -> None:
    parts = [{"type": "thinking", "signature": "abc"}]
    assert canonical_message_parts({"content": parts}) == {"content": None, "content_parts": parts}


def test_needs_part_normalizing() -> None:
    assert needs_part_normalizing({"content": []})
    assert needs_part_normalizing({"reasoning": None})
    assert not needs_part_normalizing({"content": "x", "reasoning_content": "y"})


def test_thinking_text() -> None:
    assert thinking_text({"thinking": "a", "text": "b"}) == "a"
    assert thinking_text({"thinking": 3, "text": "b"}) == "b"
    assert thinking_text({"thinking": [{"text": "a"}, {"type": "image"}]}) is None
