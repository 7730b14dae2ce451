"""chatplug: OpenAI-compatible chat completions, with providers as plugins.

::

    import chatplug

    client = chatplug.Client()
    reply = client.chat.completions.create(
        model="glm-4.6", messages=[{"role": "user", "content": "Hi"}]
    )
    print(reply.choices[0].message.content)

Importing chatplug scans no entry points: plugins load on first use.
"""

from chatplug._client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, AsyncClient, Client
from chatplug._convert import converter, from_dict
from chatplug._streaming import AsyncStream, Stream
from chatplug._version import __version__
from chatplug.errors import (
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
    MissingAPIKeyError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    PluginError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from chatplug.events import RequestEvent
from chatplug.hookspecs import hookimpl, hookspec
from chatplug.normalize import ResponseNormalizer
from chatplug.plugins import (
    PluginFailure,
    PluginRegistry,
    default_registry,
    plugin_failures,
    providers,
    register_plugin,
)
from chatplug.provider import Limits, Provider, Range
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
]
