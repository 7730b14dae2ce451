"""What the command prints when something fails, and the exit code it returns."""

from __future__ import annotations

from chatplug.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    ChatplugError,
    ContextLengthError,
    InvalidRequestError,
    MissingAPIKeyError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
)
from chatplug.plugins import PluginRegistry

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "CommandFailed",
    "UsageError",
    "exit_code",
    "error_line",
    "one_line",
]

#: An API, network or configuration error.
EXIT_ERROR = 1
#: A bad command line or an invalid request (caught before any network I/O).
EXIT_USAGE = 2
#: Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def exit_code(error: BaseException) -> int:
    """The exit code for ``error`` (Ctrl-C is handled apart, by the caller)."""
    if isinstance(error, InvalidRequestError):
        return EXIT_USAGE
    return EXIT_ERROR


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())


def _key_env(registry: PluginRegistry | None, provider_id: str | None) -> str | None:
    if registry is None or provider_id is None:
        return None
    provider = registry.providers().get(provider_id)
    if provider is None or not provider.api_key_env:
        return None
    return " or ".join(provider.api_key_env)


def _hint(
    error: ChatplugError, registry: PluginRegistry | None, key_given: bool, key_stored: bool = False
) -> str | None:
    if isinstance(error, MissingAPIKeyError):
        return None  # the message itself says what to set
    if isinstance(error, ModelNotFoundError):
        return "run 'chatplug models' to see the models each provider claims"
    if isinstance(error, InvalidRequestError) and "drop_unsupported_params" in str(error):
        return "on the command line that is -o drop_unsupported_params=true"  # the library's keyword, as -o takes it
    if isinstance(error, AuthenticationError):
        if key_given:
            return "check the --api-key value; keys only work on the endpoint (region, plan) they were issued for"
        if key_stored:
            return (
                f"check the stored key ('chatplug keys set {error.provider}'); keys only work on the endpoint "
                "(region, plan) they were issued for"
            )
        env = _key_env(registry, error.provider)
        where = f"check {env}" if env else "check the API key"
        return f"{where}; keys only work on the endpoint (region, plan) they were issued for"
    if isinstance(error, QuotaExceededError):
        return "the account is out of balance or quota; retrying will not help"
    if isinstance(error, RateLimitError):
        return "wait a little and try again, or raise --max-retries"
    if isinstance(error, ContextLengthError):
        return "shorten the prompt or lower --max-tokens"
    if isinstance(error, (NotFoundError, PermissionDeniedError)):
        return "check the model name ('chatplug models') and that the key may use it"
    if isinstance(error, StreamInterruptedError):
        return None
    if isinstance(error, APIConnectionError):
        return "check the network and the base URL (--base-url or the provider's env var)"
    if isinstance(error, APIResponseValidationError):
        return "the server did not answer in the OpenAI format; check --base-url"
    return None


def _message(error: ChatplugError) -> str:
    if isinstance(error, MissingAPIKeyError):
        names = " or ".join(error.env_vars)
        store = f"store one with 'chatplug keys set {error.provider}'"
        what = f"set {names}, {store}, or pass --api-key" if names else f"{store}, or pass --api-key"
        return f"no API key for provider {error.provider!r}: {what}"
    if isinstance(error, APIStatusError):
        parts = [part for part in (error.provider, _status(error), _code(error)) if part]
        text = f"{', '.join(parts)}: {error.message}"  # the status part is always there
        if error.request_id:
            text += f" (request id {error.request_id})"
        return text
    return str(error)


def _status(error: APIStatusError) -> str:
    return f"HTTP {error.status_code}" if error.status_code is not None else "error in stream"


def _code(error: APIStatusError) -> str | None:
    return f"code {error.code}" if error.code else None


def error_line(
    error: ChatplugError, registry: PluginRegistry | None = None, *, key_given: bool = False, key_stored: bool = False
) -> str:
    """One line for stderr naming the provider, status, provider code, message and a hint.

    ``key_stored``: the key came from the command's key store (``chatplug keys set``).
    """
    kind = "error" if isinstance(error, APIError) or not isinstance(error, InvalidRequestError) else "invalid request"
    text = f"chatplug: {kind}: {_message(error)}"
    hint = _hint(error, registry, key_given, key_stored)
    if hint:
        text += f" (hint: {hint})"
    return one_line(text)


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see (exit code 2)."""


class CommandFailed(Exception):
    """A command could not do its work for a reason that is not the command line's (exit code 1)."""
