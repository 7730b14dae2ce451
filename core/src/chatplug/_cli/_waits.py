"""Visible waits: a line on stderr for each retry, and an elapsed-time
indicator on a terminal while the first token is awaited.

Both write to stderr only. The indicator is drawn only when stderr is a
terminal, and erased before anything else is written, so neither stdout nor
a redirected stderr ever carries it. Retries are seen through the observer
hook ``chatplug_on_error`` (``will_retry=True``): the client is not changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

from chatplug._cli._errors import one_line
from chatplug._cli._render import is_tty
from chatplug._transport import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY, retry_after_header
from chatplug.errors import APIError, APIStatusError
from chatplug.events import RequestEvent
from chatplug.hookspecs import hookimpl

__all__ = ["RetryNotice", "StatusLine", "retry_wait_text"]

#: How long the first token may take before the indicator appears (seconds).
INDICATOR_AFTER = 0.5
#: How often the indicator is redrawn (seconds).
INDICATOR_EVERY = 0.1
_CLEAR = "\r\x1b[K"


class StatusLine:
    """The one transient line at the bottom of a terminal's stderr.

    :meth:`start` begins an elapsed-time indicator (drawn by a daemon thread,
    only when ``err`` is a terminal); :meth:`stop` erases it. :meth:`say`
    writes a permanent line, erasing the indicator first and redrawing it
    after. All writes to ``err`` go through one lock.
    """

    def __init__(self, err: TextIO, *, enabled: bool | None = None) -> None:
        self.err = err
        self.enabled = is_tty(err) if enabled is None else enabled
        self._lock = threading.Lock()
        self._label = ""
        self._started = 0.0
        self._shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, label: str) -> None:
        """Show ``label`` and the seconds since now, until :meth:`stop`."""
        self.stop()
        if not self.enabled:
            return
        self._label = label
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="chatplug-wait", daemon=True)
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        if stop.wait(INDICATOR_AFTER):
            return
        while not stop.is_set():
            with self._lock:
                if stop.is_set():
                    return
                self._draw()
            stop.wait(INDICATOR_EVERY)

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        self.err.write(f"{_CLEAR}{self._label} {elapsed:.1f}s")
        self.err.flush()
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self.err.write(_CLEAR)
            self.err.flush()
            self._shown = False

    def stop(self) -> None:
        """Erase the indicator (if drawn) and stop the thread. Safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        with self._lock:
            self._stop.set()
            self._erase()
        thread.join()
        self._thread = None

    @property
    def running(self) -> bool:
        """Whether the indicator is active."""
        return self._thread is not None

    def say(self, line: str) -> None:
        """Write ``line`` on stderr for good (the indicator, if shown, is redrawn below it)."""
        with self._lock:
            was_shown = self._shown
            self._erase()
            self.err.write(line + "\n")
            self.err.flush()
            if was_shown and not self._stop.is_set():
                self._draw()


def retry_wait_text(error: APIError, attempt: int) -> str:
    """How long until the next attempt, as the transport will compute it.

    A server's ``Retry-After`` (or the provider's own hint) is exact; the
    exponential backoff has up to 25 % jitter, so its range is given.
    """
    if isinstance(error, APIStatusError):
        hinted = retry_after_header(error.headers)
        if hinted is None:
            hinted = error.retry_after
        if hinted is not None and 0 <= hinted <= MAX_RETRY_AFTER:
            return f"in {hinted:.1f}s (as the server asked)"
    backoff = min(INITIAL_RETRY_DELAY * (2.0**attempt), MAX_RETRY_DELAY)
    return f"in {backoff * 0.75:.1f}-{backoff:.1f}s"


def _what_failed(error: APIError) -> str:
    if isinstance(error, APIStatusError) and error.status_code is not None:
        text = f"HTTP {error.status_code}"
        if error.code:
            text += f", code {error.code}"
        return f"{text}: {error.message}"
    return f"{type(error).__name__}: {error}"


class RetryNotice:
    """An observer plugin that prints one stderr line per retried attempt.

    ``redact`` hides keys (an error message could in theory echo one).
    """

    def __init__(self, status: StatusLine, redact: Callable[[str], str] | None = None) -> None:
        self.status = status
        self._redact: Callable[[str], str] = redact if redact is not None else (lambda text: text)

    @hookimpl
    def chatplug_on_error(self, request: RequestEvent, error: APIError, will_retry: bool) -> None:
        """Say what failed and when the next attempt is (only when one follows)."""
        if not will_retry:
            return
        line = (
            f"chatplug: {request.provider.id}: attempt {request.attempt + 1} failed ({_what_failed(error)}); "
            f"retrying {retry_wait_text(error, request.attempt)}"
        )
        self.status.say(self._redact(one_line(line)))
