"""Logging for the command: warnings always, and with ``--debug`` a request log.

Every line that leaves through here passes a :class:`Redactor`, so an API key
never reaches the terminal even if some message were to carry it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chatplug.errors import APIError
from chatplug.events import RequestEvent
from chatplug.hookspecs import hookimpl
from chatplug.plugins import PluginRegistry

__all__ = ["Redactor", "RequestLogger", "configure_logging"]

REDACTED = "***"
#: Shorter values are not treated as secrets (they would redact ordinary words).
MIN_SECRET_LENGTH = 6

logger = logging.getLogger("chatplug")


class Redactor:
    """Replaces every known secret in a text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Treat ``secret`` as a key to hide (ignored when empty or very short)."""
        if secret and len(secret.strip()) >= MIN_SECRET_LENGTH:
            self._secrets.add(secret.strip())

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def add_provider_keys(self, registry: PluginRegistry, environ: Mapping[str, str] = os.environ) -> None:
        """Also hide the value of every installed provider's key env var."""
        for provider in registry.providers().values():
            for name in provider.api_key_env:
                self.add(environ.get(name))


class _RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, redactor: Redactor) -> None:
        super().__init__(fmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor(super().format(record))


def configure_logging(redactor: Redactor, *, debug: bool, quiet_plugin_warnings: bool = False) -> Callable[[], None]:
    """Send the ``chatplug`` logger to stderr: warnings, or everything with ``debug``.

    ``quiet_plugin_warnings`` keeps plugin-load warnings off the screen for
    commands that list failed plugins themselves. Returns a function that puts
    the logger back as it was (level, propagation, handlers), so the command can
    run again in the same process.
    """
    saved_level, saved_propagate, saved_handlers = logger.level, logger.propagate, list(logger.handlers)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter("chatplug: %(levelname)s: %(message)s", redactor))
    for existing in list(logger.handlers):
        if getattr(existing, "_chatplug_cli", False):
            logger.removeHandler(existing)
    handler._chatplug_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
    if debug:
        logger.setLevel(logging.DEBUG)
    else:
        logger.setLevel(logging.ERROR if quiet_plugin_warnings else logging.WARNING)

    def restore() -> None:
        logger.removeHandler(handler)
        for previous in saved_handlers:
            if previous not in logger.handlers:
                logger.addHandler(previous)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate

    return restore


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class RequestLogger:
    """An observer plugin that logs each request, response and error at DEBUG.

    Request headers come redacted from the core; the formatter redacts again.
    """

    @hookimpl
    def chatplug_on_request(self, request: RequestEvent) -> None:
        """Log the request line, headers (credentials redacted) and JSON body."""
        logger.debug(
            "request #%d attempt %d: %s %s provider=%s model=%s stream=%s",
            request.call_id, request.attempt, request.method, request.url, request.provider.id,
            request.model, request.stream,
        )
        logger.debug("request headers: %s", _json(dict(request.headers)))
        logger.debug("request body: %s", _json(dict(request.payload)))

    @hookimpl
    def chatplug_on_response(self, request: RequestEvent, status_code: int, headers: Mapping[str, str]) -> None:
        """Log the response status and headers."""
        logger.debug("response #%d: HTTP %d headers=%s", request.call_id, status_code, _json(dict(headers)))

    @hookimpl
    def chatplug_on_error(self, request: RequestEvent, error: APIError, will_retry: bool) -> None:
        """Log an attempt's error and whether it is retried."""
        logger.debug(
            "error #%d attempt %d: %s: %s (will retry: %s)",
            request.call_id, request.attempt, type(error).__name__, error, will_retry,
        )
