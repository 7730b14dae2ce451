"""The default model set with ``chatplug models default MODEL``.

One line in ``default_model.txt`` in the user's config directory (see
:mod:`._paths`). ``-m`` and ``$CHATPLUG_MODEL`` win over it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from chatplug._cli._paths import config_dir

__all__ = ["DEFAULT_MODEL_FILENAME", "clear_default_model", "default_model_path", "get_default_model",
           "set_default_model"]

DEFAULT_MODEL_FILENAME = "default_model.txt"


def default_model_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the default model is kept."""
    return config_dir(environ) / DEFAULT_MODEL_FILENAME


def get_default_model(environ: Mapping[str, str] = os.environ) -> str | None:
    """The stored default model, or ``None``."""
    try:
        text = default_model_path(environ).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None


def set_default_model(model: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Store ``model`` as the default; return the file written."""
    path = default_model_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(model + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def clear_default_model(environ: Mapping[str, str] = os.environ) -> bool:
    """Remove the stored default; whether there was one."""
    try:
        default_model_path(environ).unlink()
    except FileNotFoundError:
        return False
    return True
