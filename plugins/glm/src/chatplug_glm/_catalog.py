"""The GLM model catalog: what each Z.ai model accepts, as data.

Sources (read 2026-12):

- Z.ai chat-completion API reference, https://docs.z.ai/api-reference/llm/chat-completion:
  the request body names ``model``, ``messages``, ``request_id``, ``do_sample``,
  ``stream``, ``thinking``, ``temperature`` [0, 1], ``top_p`` [0.01, 1],
  ``max_tokens``, ``tool_stream``, ``tools``, ``tool_choice`` (``auto``
  only), ``stop`` (one entry), ``response_format`` (``text`` or
  ``json_object``) and ``user_id``. It names no ``n``, ``seed``,
  ``frequency_penalty``, ``presence_penalty``, ``logprobs``,
  ``top_logprobs``, ``logit_bias``, ``parallel_tool_calls``,
  ``max_completion_tokens`` or ``user``. litellm's ``zai`` adapter agrees
  (its supported list: max_tokens, stream, stream_options, temperature,
  top_p, stop, tools, tool_choice). So: ``max_completion_tokens`` and
  ``user`` are renamed to their documented names, ``n`` is accepted only as
  1, and the rest is refused (or dropped on request) instead of being sent
  to be ignored. ``stream_options`` is left alone: GLM always reports usage
  on the final chunk, so ``include_usage`` holds either way.
- The official Z.ai Python SDK (zai-org/z-ai-sdk-python,
  ``zai/api_resource/chat/completions.py``) disagrees on one point: its
  ``create()`` takes and sends ``seed``. The API reference does not name it
  and litellm's adapter does not support it, so this catalog follows the
  reference and refuses ``seed`` (``drop_unsupported_params=True`` drops it).
  The SDK also rewrites out-of-range temperature and top_p silently (<= 0
  becomes ``do_sample=false``, >= 1 becomes 0.99); chatplug refuses them
  instead, naming the documented range.
- Z.ai thinking-mode guide, https://docs.z.ai/guides/capabilities/thinking-mode:
  "Thinking is activated by default in GLM-5.1, GLM-5, GLM-4.7" and shows
  ``{"type": "disabled"}`` to turn it off; GLM-4.5 / 4.6 think by default in
  "hybrid" (dynamic) mode. Public reports (e.g. hermes-webui's release notes)
  say 4.7 and 5.x always think; the docs show the switch working, so this
  catalog follows the docs: thinking is *optional, default on* for every
  GLM-4.5+ model, and the switch is never refused for them.
- ``reasoning_effort`` (``none`` ... ``max``) is documented for GLM-5.2 and
  later only (Z.ai model page and partner docs quoting it: "only supported by
  GLM-5.2 and above"); every earlier model refuses it here.
- Context and output sizes: the Z.ai model overview pages (GLM-4.5 series
  128K / 96K; GLM-4.6, 4.7, 5, 5.1 200K / 128K; GLM-4.5V 64K / 16K;
  GLM-4.6V 128K / 32K; GLM-4-32B-0414-128K 128K / 16K).
- Vision models (``glm-4.5v``, ``glm-4.6v*``) take images; the text models
  do not. Z.ai documents function calling for GLM-4.6V but not for GLM-4.5V,
  so tools are left undeclared (not checked) there.
"""

from __future__ import annotations

from chatplug import ModelCatalog, ModelInfo

__all__ = ["CATALOG", "IGNORED_PARAMETERS", "REASONING_EFFORTS"]

#: OpenAI parameters Z.ai's API reference does not name, with what to do instead.
IGNORED_PARAMETERS = {
    "seed": 'Z.ai has no seed; for near-deterministic output send extra_body={"do_sample": False}',
    "frequency_penalty": "Z.ai has no repetition penalties",
    "presence_penalty": "Z.ai has no repetition penalties",
    "logprobs": "Z.ai returns no log probabilities",
    "top_logprobs": "Z.ai returns no log probabilities",
    "logit_bias": "Z.ai has no logit bias",
    "parallel_tool_calls": "Z.ai decides on parallel tool calls itself",
}

#: The ``reasoning_effort`` values of GLM-5.2 and later.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_SOURCE = "docs.z.ai chat-completion reference and thinking-mode guide"

#: What every GLM model shares: the request rules of the Z.ai API.
_BASE = ModelInfo(
    thinking="optional",
    thinking_default=True,
    fixed={"n": 1},
    unsupported=IGNORED_PARAMETERS,
    renames={"max_completion_tokens": "max_tokens", "user": "user_id"},
    tools=True,
    images=False,
    json_mode=True,
    json_schema=False,
    reasoning_effort=(),
    notes=_SOURCE,
)

_GLM45 = _BASE.replace(context_window=128_000, max_output=96_000)
_GLM46 = _BASE.replace(context_window=200_000, max_output=128_000)
_GLM45V = _GLM45.replace(context_window=64_000, max_output=16_000, images=True, tools=None)
_GLM46V = _GLM45.replace(context_window=128_000, max_output=32_000, images=True)
_GLM52 = _GLM46.replace(reasoning_effort=REASONING_EFFORTS)
#: GLM-4 generation models: no thinking at all, so never sent the switch.
_GLM4 = _BASE.replace(thinking="none", thinking_default=None, context_window=128_000, max_output=16_000)

#: The GLM catalog: every documented model, then family patterns for new ones.
CATALOG = ModelCatalog(
    models={
        "glm-4.5": _GLM45,
        "glm-4.5-air": _GLM45,
        "glm-4.5-x": _GLM45,
        "glm-4.5-airx": _GLM45,
        "glm-4.5-flash": _GLM45,
        "glm-4.5v": _GLM45V,
        "glm-4.6": _GLM46,
        "glm-4.6v": _GLM46V,
        "glm-4.6v-flash": _GLM46V,
        "glm-4.6v-flashx": _GLM46V,
        "glm-4.7": _GLM46,
        "glm-4.7-flash": _GLM46,
        "glm-4.7-flashx": _GLM46,
        "glm-5": _GLM46,
        "glm-5-turbo": _GLM46,
        "glm-5.1": _GLM46,
        "glm-5.2": _GLM52,
        "glm-4-32b-0414-128k": _GLM4,
    },
    families=[
        # Most specific first: the first pattern that matches wins.
        ("glm-4.5v*", _GLM45V),
        ("glm-4.6v*", _GLM46V),
        ("glm-4.5*", _GLM45),
        ("glm-4.6*", _GLM46),
        ("glm-4.7*", _GLM46),
        ("glm-5.2*", _GLM52),
        ("glm-5.[3-9]*", _GLM52),  # reasoning_effort is documented "for GLM-5.2 and above"
        ("glm-5*", _GLM46),
        ("glm-6*", _GLM52),
        ("glm-4-*", _GLM4),
    ],
    # Another glm- name: the API's own rules, no per-model facts.
    default=_BASE.replace(thinking=None, thinking_default=None, tools=None, images=None, json_mode=None),
)
