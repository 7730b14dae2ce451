"""chatplug.config.parse_toml: the one TOML reader of the providers file and of
plugins' own config files, reporting the line, the column and the problem."""

from __future__ import annotations

import pytest
from chatplug.config import TOMLParseError, parse_toml


def test_a_valid_document_is_its_dict() -> None:
    assert parse_toml('[server]\nport = 8000\nhost = "127.0.0.1"\n') == {"server": {"port": 8000, "host": "127.0.0.1"}}


def test_a_syntax_error_names_its_line_and_column() -> None:
    with pytest.raises(TOMLParseError) as caught:
        parse_toml("[server]\nport = 80\nport = 81\n")
    assert caught.value.line == 3
    assert caught.value.problem == "not valid TOML: Cannot overwrite a value (column 10)"
    assert str(caught.value) == f"line 3: {caught.value.problem}"


def test_an_error_at_the_end_points_at_the_last_line() -> None:
    with pytest.raises(TOMLParseError) as caught:
        parse_toml('a = 1\nb = "open\n')
    assert caught.value.line == 2
    assert "not valid TOML" in caught.value.problem
