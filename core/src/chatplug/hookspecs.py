"""The hooks a chatplug plugin can implement (pluggy project name ``chatplug``).

Every hook is synchronous and does no I/O: all I/O stays in the core
transport, so one plugin serves the sync and the async client alike. A
provider plugin implements only what differs from plain OpenAI behaviour; the
core's own implementations (``chatplug._defaults``) run last and supply that
behaviour.

A hook implementation that receives a ``provider`` must do nothing (return
``None``) for providers it does not own: ``if provider.id != "mine": return None``.

pluggy lets an implementation take any subset of a hook's arguments, so new
arguments can be added to a spec without breaking existing plugins.

Observer hooks (``chatplug_on_*``) are called one implementation at a time so
that one failing observer cannot break the others; pluggy wrappers
(``wrapper=True`` / ``hookwrapper=True``) therefore do not apply to them.

See ``docs/hooks.md`` for each hook with an example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from chatplug.cli import AddCommand
    from chatplug.errors import APIError, APIStatusError
    from chatplug.events import RequestEvent
    from chatplug.normalize import ResponseNormalizer
    from chatplug.provider import Provider
    from chatplug.types import ChatCompletion, ChatCompletionChunk

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

#: The pluggy project name (also the entry-point group).
PROJECT_NAME = "chatplug"

#: Marker for the hook specifications below.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker a plugin uses on its hook implementations: ``@chatplug.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ------------------------------------------------------------------- providers


@hookspec
def chatplug_providers() -> Sequence[Provider] | Provider | None:
    """Declare the providers this plugin supplies.

    Called once, when plugins are first loaded. Return a
    :class:`~chatplug.Provider` or a list of them. Every result is collected.
    """


@hookspec(firstresult=True)
def chatplug_credentials(
    provider: Provider, api_key: str | None, environ: Mapping[str, str]
) -> Mapping[str, str] | None:
    """Return the HTTP headers that authenticate a request to ``provider``.

    ``api_key`` is the key given to the client (``None`` if none was).
    ``environ`` is the process environment. The first non-``None`` answer wins;
    the core's default sends ``<auth_header>: <auth_scheme> <key>`` with the
    given key or the first of ``provider.api_key_env`` that is set, and raises
    :class:`~chatplug.MissingAPIKeyError` naming those variables otherwise.

    A host app answers first (``@hookimpl(tryfirst=True)``) to read keys from a
    vault. Every header value returned here is treated as a secret: it is
    redacted in logs, observer events and errors.
    """


@hookspec
def chatplug_prepare_payload(provider: Provider, model: str, payload: dict[str, Any]) -> None:
    """Adjust the JSON request body in place before it is sent.

    ``payload`` is the whole body (``model``, ``messages``, parameters,
    ``extra_body`` merged in). Its top-level dict and each message dict are
    copies owned by this request; copy anything deeper before changing it.
    Every implementation is called; return nothing. Raise
    :class:`~chatplug.InvalidRequestError` to reject a request the provider
    would refuse: it is raised before any I/O.
    """


@hookspec(firstresult=True)
def chatplug_response_normalizer(provider: Provider, model: str, stream: bool) -> ResponseNormalizer | None:
    """Return the object that turns this provider's responses into the canonical contract.

    Called once per request, not per chunk. Return a fresh
    :class:`~chatplug.ResponseNormalizer` (it may keep state across the chunks
    of one stream), or ``None`` for providers this plugin does not own. The
    core's default passes OpenAI-shaped data through unchanged.
    """


@hookspec(firstresult=True)
def chatplug_map_error(
    provider: Provider, status_code: int | None, body: Any, headers: Mapping[str, str]
) -> APIStatusError | None:
    """Turn an error response into an exception instance (do not raise it).

    ``body`` is the parsed JSON body (or its text if it is not JSON);
    ``status_code`` is ``None`` for an error sent inside a stream. Return
    ``None`` to leave it to the core's default, which maps by HTTP status like
    openai-python. Set ``retryable`` to override the retry decision and
    ``retry_after`` (seconds) to pass on a hint found in the body.
    """


# ------------------------------------------------------------------- observers


@hookspec
def chatplug_on_start(request: RequestEvent) -> None:
    """Observe the start of a call, once, before its first attempt.

    ``request`` is the view of attempt 0. Every ``chatplug_on_start`` is
    followed by exactly one :func:`chatplug_on_finish` with the same
    ``call_id``, whatever happens in between (retries, waits, errors); a check
    that fails before the call starts (an invalid parameter, say) raises
    without either. Use it to open something that spans the whole call, such
    as a trace span.
    """


@hookspec
def chatplug_on_request(request: RequestEvent) -> None:
    """Observe a request about to be sent (once per attempt).

    ``request.headers`` has its credentials redacted. An observer that raises
    is logged and ignored: it never breaks the call or the other observers.
    """


@hookspec
def chatplug_on_response(request: RequestEvent, status_code: int, headers: Mapping[str, str]) -> None:
    """Observe the status line and headers of a response (once per attempt)."""


@hookspec
def chatplug_on_chunk(request: RequestEvent, chunk: ChatCompletionChunk) -> None:
    """Observe each canonical chunk of a stream, as the user receives it.

    Only called when some plugin implements it, so it costs nothing otherwise.
    """


@hookspec
def chatplug_on_error(request: RequestEvent, error: APIError, will_retry: bool) -> None:
    """Observe an error of one attempt; ``will_retry`` says whether another attempt follows."""


@hookspec
def chatplug_on_finish(
    request: RequestEvent, completion: ChatCompletion | None, error: BaseException | None
) -> None:
    """Observe the end of a call, once: the final completion (for a stream, the
    one assembled from its chunks; partial if it was cut) and the error that
    ended it, if any."""


@hookspec
def chatplug_on_key_removed(provider: Provider, key_fingerprint: str, error: BaseException) -> None:
    """Observe an API key being taken out of a client's key pool, once per key.

    ``key_fingerprint`` names the key (:func:`chatplug.key_fingerprint`; the key
    itself is never passed); ``error`` is the authentication, permission or
    quota error that took it out.
    """


# ------------------------------------------------------------------- command line


@hookspec
def chatplug_cli_commands(add_command: AddCommand) -> None:
    """Add subcommands to the ``chatplug`` command (``chatplug serve``, say).

    Call ``add_command(name, help=..., run=...)`` once per command. It returns
    the command's :class:`argparse.ArgumentParser`, to which the plugin adds
    its arguments; ``run(args)`` is called with the parsed
    :class:`argparse.Namespace` when the command is used and returns the exit
    code (``None`` counts as 0). A name already taken (a built-in command or
    another plugin's) is refused with a warning, and a plugin whose hook raises
    is reported and skipped: neither breaks the other commands.

    Called only when the command line does not name a built-in command (so
    ``chatplug chat`` never pays for it). Import heavy dependencies inside
    ``run``, not at module level, so ``chatplug --help`` stays fast. See
    :class:`chatplug.cli.AddCommand`.
    """
