"""chatplug: OpenAI-compatible chat completions, with providers as plugins.

::

    import chatplug

    client = chatplug.Client()
    reply = client.chat.completions.create(
        model="glm-4.6", messages=[{"role": "user", "content": "Hi"}]
    )
    print(reply.choices[0].message.content)

Importing chatplug is cheap: its modules load on first attribute access
(PEP 562), and plugins load on first use; nothing scans entry points at import.

How exports work (read this before adding one). A public name is declared in
three places below, one line each, and imported only when first used:

1. ``from chatplug.<module> import Name`` under ``if TYPE_CHECKING:``, so type
   checkers and IDEs see the real object;
2. ``"Name"`` in ``__all__``;
3. ``"Name": "chatplug.<module>"`` in ``_LOCATIONS``, which ``__getattr__``
   uses to import the module on first access and cache the name here.

A public submodule (``chatplug.errors``) goes in ``_SUBMODULES`` instead. Never
import a module at the top of this file: every import here is paid by every
``import chatplug``. ``tests/core/test_core_startup.py`` checks that the three
places agree and that ``import chatplug`` loads nothing else.
"""

from typing import TYPE_CHECKING, Any

#: The distribution's version. ``core/pyproject.toml`` declares it too; a test holds the two equal.
__version__ = "0.2.0"

if TYPE_CHECKING:
    from chatplug._client import (
        DEFAULT_MAX_RETRIES,
        DEFAULT_TIMEOUT,
        AsyncClient,
        Client,
    )
    from chatplug._convert import (
        converter,
        from_dict,
    )
    from chatplug._keypool import (
        KeyPool,
        key_fingerprint,
    )
    from chatplug._limits import (
        Limiter,
        RateLimit,
    )
    from chatplug._streaming import (
        AsyncStream,
        Stream,
    )
    from chatplug.catalog import (
        ModelCatalog,
        ModelInfo,
    )
    from chatplug.errors import (
        AllModelsFailedError,
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ChatplugError,
        ConflictError,
        ContentFilterError,
        ContextLengthError,
        InternalServerError,
        InvalidRequestError,
        KeyPoolExhaustedError,
        LimiterUnavailableError,
        LimitWaitTimeoutError,
        MissingAPIKeyError,
        ModelNotFoundError,
        ModelRuleError,
        NotFoundError,
        PermissionDeniedError,
        PluginError,
        QuotaExceededError,
        RateLimitError,
        StreamInterruptedError,
        UnprocessableEntityError,
    )
    from chatplug.events import (
        Adjustment,
        RequestEvent,
    )
    from chatplug.hookspecs import (
        hookimpl,
        hookspec,
    )
    from chatplug.normalize import (
        ResponseNormalizer,
    )
    from chatplug.ownership import (
        owned,
    )
    from chatplug.plugins import (
        PluginFailure,
        PluginRegistry,
        default_registry,
        plugin_failures,
        providers,
        register_plugin,
    )
    from chatplug.provider import (
        Limits,
        Provider,
        Range,
    )
    from chatplug.types import (
        AssistantMessage,
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessage,
        ChatCompletionMessageToolCall,
        ChatCompletionRequest,
        Choice,
        ChoiceDelta,
        ChoiceDeltaToolCall,
        ChoiceDeltaToolCallFunction,
        ChunkChoice,
        CompletionTokensDetails,
        DeveloperMessage,
        Function,
        FunctionDefinition,
        ImageURL,
        ImageURLPart,
        PromptTokensDetails,
        ResponseFormat,
        StreamOptions,
        SystemMessage,
        TextPart,
        Tool,
        ToolMessage,
        Usage,
        UserMessage,
    )

__all__ = [
    "__version__",
    # clients
    "Client",
    "AsyncClient",
    "Stream",
    "AsyncStream",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    # plugins
    "Provider",
    "Limits",
    "Range",
    "ModelCatalog",
    "ModelInfo",
    "Adjustment",
    "owned",
    "ResponseNormalizer",
    "RequestEvent",
    "hookimpl",
    "hookspec",
    "PluginRegistry",
    "PluginFailure",
    "default_registry",
    "plugin_failures",
    "providers",
    "register_plugin",
    # contract
    "converter",
    "from_dict",
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionRequest",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
    "CompletionTokensDetails",
    "DeveloperMessage",
    "Function",
    "FunctionDefinition",
    "ImageURL",
    "ImageURLPart",
    "PromptTokensDetails",
    "ResponseFormat",
    "StreamOptions",
    "SystemMessage",
    "TextPart",
    "Tool",
    "ToolMessage",
    "Usage",
    "UserMessage",
    # errors
    "ChatplugError",
    "InvalidRequestError",
    "MissingAPIKeyError",
    "ModelNotFoundError",
    "PluginError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "ContextLengthError",
    "ContentFilterError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "QuotaExceededError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamInterruptedError",
    "APIResponseValidationError",
    # scale: fallbacks, key pools, shared limits
    "KeyPool",
    "key_fingerprint",
    "Limiter",
    "RateLimit",
    "ModelRuleError",
    "AllModelsFailedError",
    "KeyPoolExhaustedError",
    "LimitWaitTimeoutError",
    "LimiterUnavailableError",
]

#: Public submodules, also reachable as attributes (``chatplug.errors``).
_SUBMODULES = frozenset(
    {"config", "errors", "events", "hookspecs", "normalize", "params", "plugins", "provider", "testing", "types"}
    | {"catalog", "ownership"}
)

#: Where each public name lives; imported on first access.
_LOCATIONS = {
    "AsyncClient": "chatplug._client",
    "Client": "chatplug._client",
    "DEFAULT_MAX_RETRIES": "chatplug._client",
    "DEFAULT_TIMEOUT": "chatplug._client",
    "converter": "chatplug._convert",
    "from_dict": "chatplug._convert",
    "ModelCatalog": "chatplug.catalog",
    "ModelInfo": "chatplug.catalog",
    "owned": "chatplug.ownership",
    "AsyncStream": "chatplug._streaming",
    "Stream": "chatplug._streaming",
    "APIConnectionError": "chatplug.errors",
    "APIError": "chatplug.errors",
    "APIResponseValidationError": "chatplug.errors",
    "APIStatusError": "chatplug.errors",
    "APITimeoutError": "chatplug.errors",
    "AuthenticationError": "chatplug.errors",
    "BadRequestError": "chatplug.errors",
    "ChatplugError": "chatplug.errors",
    "ConflictError": "chatplug.errors",
    "ContentFilterError": "chatplug.errors",
    "ContextLengthError": "chatplug.errors",
    "InternalServerError": "chatplug.errors",
    "InvalidRequestError": "chatplug.errors",
    "MissingAPIKeyError": "chatplug.errors",
    "ModelNotFoundError": "chatplug.errors",
    "NotFoundError": "chatplug.errors",
    "PermissionDeniedError": "chatplug.errors",
    "PluginError": "chatplug.errors",
    "QuotaExceededError": "chatplug.errors",
    "RateLimitError": "chatplug.errors",
    "StreamInterruptedError": "chatplug.errors",
    "UnprocessableEntityError": "chatplug.errors",
    "Adjustment": "chatplug.events",
    "RequestEvent": "chatplug.events",
    "hookimpl": "chatplug.hookspecs",
    "hookspec": "chatplug.hookspecs",
    "ResponseNormalizer": "chatplug.normalize",
    "PluginFailure": "chatplug.plugins",
    "PluginRegistry": "chatplug.plugins",
    "default_registry": "chatplug.plugins",
    "plugin_failures": "chatplug.plugins",
    "providers": "chatplug.plugins",
    "register_plugin": "chatplug.plugins",
    "Limits": "chatplug.provider",
    "Provider": "chatplug.provider",
    "Range": "chatplug.provider",
    "AssistantMessage": "chatplug.types",
    "ChatCompletion": "chatplug.types",
    "ChatCompletionChunk": "chatplug.types",
    "ChatCompletionMessage": "chatplug.types",
    "ChatCompletionMessageToolCall": "chatplug.types",
    "ChatCompletionRequest": "chatplug.types",
    "Choice": "chatplug.types",
    "ChoiceDelta": "chatplug.types",
    "ChoiceDeltaToolCall": "chatplug.types",
    "ChoiceDeltaToolCallFunction": "chatplug.types",
    "ChunkChoice": "chatplug.types",
    "CompletionTokensDetails": "chatplug.types",
    "DeveloperMessage": "chatplug.types",
    "Function": "chatplug.types",
    "FunctionDefinition": "chatplug.types",
    "ImageURL": "chatplug.types",
    "ImageURLPart": "chatplug.types",
    "PromptTokensDetails": "chatplug.types",
    "ResponseFormat": "chatplug.types",
    "StreamOptions": "chatplug.types",
    "SystemMessage": "chatplug.types",
    "TextPart": "chatplug.types",
    "Tool": "chatplug.types",
    "ToolMessage": "chatplug.types",
    "Usage": "chatplug.types",
    "UserMessage": "chatplug.types",
    "KeyPool": "chatplug._keypool",
    "key_fingerprint": "chatplug._keypool",
    "Limiter": "chatplug._limits",
    "RateLimit": "chatplug._limits",
    "ModelRuleError": "chatplug.errors",
    "AllModelsFailedError": "chatplug.errors",
    "KeyPoolExhaustedError": "chatplug.errors",
    "LimitWaitTimeoutError": "chatplug.errors",
    "LimiterUnavailableError": "chatplug.errors",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first access (PEP 562)."""
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"chatplug.{name}")
    module_name = _LOCATIONS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'chatplug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
