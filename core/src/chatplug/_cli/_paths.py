"""Where the command keeps its files: the conversation log and the key store.

The platform conventions, in one small function each, rather than the
``platformdirs`` package: the command ships inside the core distribution,
whose runtime dependencies stay httpx, attrs, cattrs and pluggy, and two
directories per platform do not justify a new hard dependency.

- Linux and other Unix: ``$XDG_DATA_HOME/chatplug`` (default
  ``~/.local/share/chatplug``) and ``$XDG_CONFIG_HOME/chatplug`` (default
  ``~/.config/chatplug``), as the XDG Base Directory specification says.
- macOS: ``~/Library/Application Support/chatplug`` for both, unless the
  XDG variables are set explicitly (then they win, as most Unix tools do).
- Windows: ``%LOCALAPPDATA%\\chatplug`` for data (a log belongs to the
  machine) and ``%APPDATA%\\chatplug`` for configuration (it roams).

``CHATPLUG_DATA_DIR`` and ``CHATPLUG_CONFIG_DIR`` override both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["APP_NAME", "KEYS_FILENAME", "config_dir", "data_dir"]

APP_NAME = "chatplug"
#: The key store's file name in the config directory (``chatplug keys``).
KEYS_FILENAME = "keys.json"
DATA_DIR_ENV = "CHATPLUG_DATA_DIR"
CONFIG_DIR_ENV = "CHATPLUG_CONFIG_DIR"


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or environ.get("USERPROFILE")
    return Path(home) if home else Path.home()


def _base(
    environ: Mapping[str, str], platform: str, *, xdg: str, xdg_default: str, windows: str, windows_default: str
) -> Path:
    explicit = environ.get(xdg)
    if platform == "win32":
        value = environ.get(windows)
        return Path(value) if value else _home(environ) / windows_default
    if explicit and os.path.isabs(explicit):  # the spec: a relative path is invalid and ignored
        return Path(explicit)
    if platform == "darwin":
        return _home(environ) / "Library" / "Application Support"
    return _home(environ) / xdg_default


def data_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """The directory for data the command writes (the conversation log)."""
    override = environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    base = _base(
        environ, platform, xdg="XDG_DATA_HOME", xdg_default=".local/share",
        windows="LOCALAPPDATA", windows_default="AppData/Local",
    )
    return base / APP_NAME


def config_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """The directory for settings and the key store."""
    override = environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    base = _base(
        environ, platform, xdg="XDG_CONFIG_HOME", xdg_default=".config",
        windows="APPDATA", windows_default="AppData/Roaming",
    )
    return base / APP_NAME
