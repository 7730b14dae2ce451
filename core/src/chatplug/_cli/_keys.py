"""The command's key store: ``chatplug keys set|list|path|remove``.

``keys.json`` in the user's config directory (see :mod:`._paths`), a JSON
object from provider id to key. The file is created with mode 0600 (only its
owner can read it) inside a 0700 directory, and replaced atomically on every
change, so a crash never leaves half a file and there is no moment when the
file is readable by others.

Only the command reads it, and only when neither ``--api-key`` nor the
provider's environment variable gives a key. The library's ``Client`` never
reads it: a program that wants the stored key asks for it with
:func:`chatplug.cli.stored_api_key`.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from chatplug._cli._paths import KEYS_FILENAME, config_dir

__all__ = ["KEYS_FILENAME", "KeyNameError", "KeyStore", "KeyStoreError", "keys_path"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class KeyStoreError(Exception):
    """The key store cannot be read or the name is not a valid provider id."""


class KeyNameError(KeyStoreError):
    """The name given is not a valid provider id (the command line is wrong, not the file)."""


def keys_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the stored keys are."""
    return config_dir(environ) / KEYS_FILENAME


class KeyStore:
    """The stored keys at ``path``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else keys_path()

    def _load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise KeyStoreError(f"cannot read the key store {self.path}: {error.strerror}") from None
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            raise KeyStoreError(f"the key store {self.path} is not valid JSON; fix or remove it") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise KeyStoreError(f"the key store {self.path} must be a JSON object of provider id to key")
        return {str(name): value for name, value in data.items()}

    def names(self) -> list[str]:
        """The providers that have a stored key, sorted (never the keys)."""
        return sorted(self._load())

    def get(self, provider: str) -> str | None:
        """The stored key of ``provider``, or ``None``."""
        return self._load().get(provider) or None

    def set(self, provider: str, key: str) -> None:
        """Store ``key`` for ``provider`` (replacing any earlier one)."""
        if not _NAME.match(provider):
            raise KeyNameError(f"{provider!r} is not a provider id (letters, digits, '.', '_' and '-')")
        keys = self._load()
        keys[provider] = key
        self._write(keys)

    def remove(self, provider: str) -> bool:
        """Forget the key of ``provider``; whether there was one."""
        keys = self._load()
        if keys.pop(provider, None) is None:
            return False
        self._write(keys)
        return True

    def _write(self, keys: Mapping[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # a leftover temp file would keep its old mode
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(dict(sorted(keys.items())), handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, self.path)

    def readable_by_others(self) -> bool:
        """Whether the file's mode lets anyone but its owner read it (POSIX only)."""
        if os.name != "posix":
            return False
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return False
        return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))
