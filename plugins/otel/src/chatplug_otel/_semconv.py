"""The OpenTelemetry GenAI semantic-convention names chatplug-otel emits, in one place.

chatplug-otel follows the GenAI conventions as released in
semantic-conventions v1.41.0, the last release that carried them before they
moved to their own repository. Names are written out here rather than taken
from ``opentelemetry-semantic-conventions``: that package's GenAI module is
"incubating" and renames things between releases, and the app, not this
plugin, chooses its version.
"""

from __future__ import annotations

from typing import Final

#: The schema the emitted telemetry follows (set on the tracer and the meter).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.41.0"

# ------------------------------------------------------------------ attributes

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
#: The v1.36.0 name of ``gen_ai.provider.name``; emitted next to it unless the
#: app opts in to the latest conventions only (see ``_settings``).
SYSTEM: Final = "gen_ai.system"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_STREAM: Final = "gen_ai.request.stream"
OUTPUT_TYPE: Final = "gen_ai.output.type"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE: Final = "gen_ai.token.type"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

#: Attributes of this plugin's own, on the per-attempt span events.
ATTEMPT: Final = "chatplug.attempt"
WILL_RETRY: Final = "chatplug.will_retry"
FALLBACK_INDEX: Final = "chatplug.fallback_index"
HTTP_STATUS_CODE: Final = "http.response.status_code"

OPERATION_CHAT: Final = "chat"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --------------------------------------------------------------------- metrics

OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"

#: The conventions' bucket advice for the three duration histograms (seconds).
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: The conventions' bucket advice for token usage.
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)

# ------------------------------------------------------------------- providers

#: chatplug provider ids whose ``gen_ai.provider.name`` is a well-known value of
#: the conventions (which then MUST be used), or a value in their style.
#: Any other provider is reported under its chatplug id.
PROVIDER_NAMES: Final = {
    "kimi": "moonshot_ai",
    "moonshot": "moonshot_ai",
    "deepseek": "deepseek",
    "openai": "openai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "glm": "z_ai",
}
