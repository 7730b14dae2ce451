"""The conversation log: every ``chatplug chat`` exchange in a SQLite database.

Stdlib :mod:`sqlite3` (imported on first use), in the user's data directory
(see :mod:`._paths`).
Several ``chatplug`` processes may write at once: the database runs in WAL
mode with a busy timeout, and every write is one ``BEGIN IMMEDIATE``
transaction, so a writer waits its turn instead of failing or losing a row.

The schema version is SQLite's ``PRAGMA user_version``; :data:`MIGRATIONS`
takes any older database forward, one step at a time, in one transaction.
A database newer than this chatplug is refused, not written.

Nothing here ever sees an API key or a request header: an exchange is built
from the prompt, the options and the reply, and every text passes the
command's redactor on the way in.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr

from chatplug._cli._paths import data_dir

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "DB_FILENAME",
    "Exchange",
    "ConversationLog",
    "LogError",
    "MIGRATIONS",
    "NO_LOG_ENV",
    "SCHEMA_VERSION",
    "log_disabled",
    "log_path",
    "migrate",
    "new_conversation_id",
]

DB_FILENAME = "logs.db"
#: Set to anything but ``""`` or ``0`` to stop ``chatplug chat`` from logging (like ``--no-log``).
NO_LOG_ENV = "CHATPLUG_NO_LOG"
#: How long a writer waits for another process's transaction, in milliseconds.
BUSY_TIMEOUT_MS = 30_000

#: Each entry takes the schema from version N to N + 1 (entry 0 creates version 1).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE exchanges (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT,
            prompt TEXT NOT NULL,
            system TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            response TEXT,
            reasoning TEXT,
            tool_calls TEXT,
            usage TEXT,
            duration_ms INTEGER,
            error TEXT,
            error_type TEXT
        )
        """,
        "CREATE INDEX exchanges_conversation ON exchanges (conversation_id, id)",
    ),
    (
        # version 2: why a reply ended, and the provider's id for it (to find it in their logs)
        "ALTER TABLE exchanges ADD COLUMN finish_reason TEXT",
        "ALTER TABLE exchanges ADD COLUMN response_id TEXT",
        "CREATE INDEX exchanges_model ON exchanges (model)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_JSON_COLUMNS = ("options", "tool_calls", "usage")


class LogError(Exception):
    """The log cannot be used (a newer schema, an unreadable file)."""


def log_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the conversation log lives."""
    return data_dir(environ) / DB_FILENAME


def log_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``$CHATPLUG_NO_LOG`` turns logging off."""
    return environ.get(NO_LOG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def new_conversation_id() -> str:
    """A new conversation id: the time in hex (so ids sort by age) and 48 random bits."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"


@attr.frozen
class Exchange:
    """One prompt and its reply (or the error that ended it), as logged."""

    conversation_id: str
    model: str
    prompt: str
    provider: str | None = None
    system: str | None = None
    options: Mapping[str, Any] = attr.field(factory=dict)
    response: str | None = None
    reasoning: str | None = None
    tool_calls: Sequence[Any] | None = None
    usage: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    response_id: str | None = None
    duration_ms: int | None = None
    error: str | None = None
    error_type: str | None = None
    created_at: str = attr.field(factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def migrate(connection: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema to version ``target``; return the version found before.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so two processes opening a
    new log at once create it once. A database newer than ``target`` raises
    :class:`LogError`.
    """
    found = _version(connection)
    if found > SCHEMA_VERSION:
        raise LogError(
            f"the log database has schema version {found}, newer than this chatplug knows ({SCHEMA_VERSION}); "
            "upgrade chatplug to read or write it"
        )
    if found >= target:
        return found
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = _version(connection)  # another process may have migrated while this one waited
        for number in range(found, target):
            for statement in MIGRATIONS[number]:
                connection.execute(statement)
        if found < target:
            connection.execute(f"PRAGMA user_version = {int(target)}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return found


def _version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def _create_private(path: Path) -> None:
    """Create the directory (0700) and the database file (0600): prompts are private."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class ConversationLog:
    """The log database at ``path``. Each method opens, uses and closes one connection."""

    def __init__(self, path: Path, *, redact: Callable[[str], str] | None = None) -> None:
        self.path = path
        self._redact = redact or (lambda text: text)

    def exists(self) -> bool:
        """Whether anything was ever logged."""
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # here, not at the top: a chat loads it after its reply, when the turn is written

        _create_private(self.path)
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as error:
            raise LogError(f"cannot open the log {self.path}: {error}") from error
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            migrate(connection)
        except BaseException:
            connection.close()
            raise
        connection.row_factory = sqlite3.Row
        return connection

    def add(self, exchange: Exchange) -> int:
        """Write one exchange; return its row id."""
        redact = self._redact
        row: dict[str, Any] = attr.asdict(exchange, recurse=False)
        for name in ("prompt", "system", "response", "reasoning", "error"):
            if row[name] is not None:
                row[name] = redact(row[name])
        for name in _JSON_COLUMNS:
            row[name] = _dumps(row[name])
            if row[name] is not None:
                row[name] = redact(row[name])
        if row["options"] is None:
            row["options"] = "{}"
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute(f"INSERT INTO exchanges ({columns}) VALUES ({marks})", row)
            connection.execute("COMMIT")
            return int(cursor.lastrowid or 0)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        connection = self._connect()
        try:
            return [_decode(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()

    def last_conversation_id(self) -> str | None:
        """The conversation of the most recent exchange, or ``None`` for an empty log."""
        rows = self._read("SELECT conversation_id FROM exchanges ORDER BY id DESC LIMIT 1")
        return str(rows[0]["conversation_id"]) if rows else None

    def conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every exchange of one conversation, oldest first."""
        return self._read("SELECT * FROM exchanges WHERE conversation_id = ? ORDER BY id", (conversation_id,))

    def recent(
        self,
        *,
        count: int | None = 10,
        query: str | None = None,
        conversation_id: str | None = None,
        model: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest ``count`` exchanges (all when ``None``), oldest first, filtered.

        ``query`` matches prompt, system prompt, response or reasoning (case
        insensitive for ASCII); ``model`` matches ``model`` or ``provider/model``.
        """
        where: list[str] = []
        params: list[Any] = []
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(" + " OR ".join(f"{column} LIKE ? ESCAPE '\\'" for column in _SEARCHED) + ")"
            )
            params.extend([pattern] * len(_SEARCHED))
        if conversation_id:
            where.append("conversation_id = ?")
            params.append(conversation_id)
        if model:
            where.append("(model = ? OR provider || '/' || model = ?)")
            params.extend([model, model])
        sql = "SELECT * FROM exchanges"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if count is not None:
            sql += " LIMIT ?"
            params.append(count)
        return list(reversed(self._read(sql, params)))


_SEARCHED = ("prompt", "system", "response", "reasoning")


def _decode(row: Any) -> dict[str, Any]:
    record = dict(row)
    for name in _JSON_COLUMNS:
        if record.get(name) is not None:
            record[name] = json.loads(record[name])
    return record


def history_messages(exchanges: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The messages that continue a logged conversation: each answered prompt and its reply.

    Exchanges that failed, or whose reply has no text, are left out (as
    ``chat -i`` leaves them out of its history), so the result is a valid
    request history.
    """
    messages: list[dict[str, Any]] = []
    for exchange in exchanges:
        if exchange.get("error") or not exchange.get("response"):
            continue
        reply: dict[str, Any] = {"role": "assistant", "content": exchange["response"]}
        if exchange.get("reasoning"):
            reply["reasoning_content"] = exchange["reasoning"]
        messages.append({"role": "user", "content": exchange["prompt"]})
        messages.append(reply)
    return messages
