"""The Kimi model catalog: what each Moonshot model accepts, as data.

Sources (read 2026-12):

- Moonshot "Model Parameter Reference", https://platform.moonshot.ai/docs/api/models-overview
  (mirrored at platform.kimi.ai): per family, the defaults and the fixed values.
  ``kimi-k2.5`` / ``kimi-k2.6``: temperature "cannot be modified", top_p 0.95,
  n 1, presence_penalty 0 and frequency_penalty 0, all "cannot be modified";
  ``thinking`` supported. ``kimi-k2`` series: temperature 0.6 by default,
  n up to 5. ``kimi-k2-thinking`` series: temperature 1.0 *by default* (the
  table does not mark it fixed, so other values are sent; the guide only
  recommends 1.0). ``moonshot-v1``: temperature 0.0 by default. "When
  temperature is close to 0, n can only be 1" (the plugin's own check).
- Moonshot "Use the thinking model" guide: ``kimi-k2-thinking`` always thinks
  ("forced"); ``kimi-k2.5`` thinks by default and takes
  ``{"type": "disabled"}``. The Kimi K2.5 guide gives the fixed temperatures:
  1.0 with thinking, 0.6 without.
- Thinking models refuse a history whose assistant tool-call message lacks
  ``reasoning_content``: HTTP 400 "thinking is enabled but reasoning_content
  is missing in assistant tool call message at index N" (reported against
  kimi-k2.5 / k2.6 in mastra-ai/mastra#12592, cloudwego/eino-ext#700,
  MoonshotAI/kimi-agent-sdk#169). ``reasoning_in_history`` makes the core
  refuse it before any I/O.
- The chat API reference (https://platform.moonshot.ai/docs/api/chat) lists
  ``max_completion_tokens`` (``max_tokens`` is kept as a deprecated alias, so
  neither is renamed), ``response_format`` with ``text`` / ``json_object``
  only, and no ``seed``, ``logprobs``, ``top_logprobs`` or ``logit_bias``:
  those are refused instead of being sent to be ignored.
- Context windows: the model list (kimi-k2-0905, k2-turbo, k2-thinking,
  k2.5: 262,144; kimi-k2-0711 and kimi-latest: 131,072; moonshot-v1-8k / 32k
  / 128k as named). Output shares the window, so no separate maximum is declared.
- Images: ``kimi-k2.5`` (native multimodal), ``kimi-latest`` and the
  ``moonshot-v1-*-vision-preview`` models; the other text models take none.
"""

from __future__ import annotations

from chatplug import ModelCatalog, ModelInfo

__all__ = ["CATALOG", "IGNORED_PARAMETERS"]

#: OpenAI parameters Moonshot's chat API reference does not name, with a hint.
IGNORED_PARAMETERS = {
    "seed": "Moonshot has no seed",
    "logprobs": "Moonshot returns no log probabilities",
    "top_logprobs": "Moonshot returns no log probabilities",
    "logit_bias": "Moonshot has no logit bias",
}

_SOURCE = "platform.moonshot.ai model parameter reference and thinking-model guide"

_BASE = ModelInfo(
    thinking="none",
    unsupported=IGNORED_PARAMETERS,
    tools=True,
    images=False,
    json_mode=True,
    json_schema=False,
    reasoning_effort=(),
    notes=_SOURCE,
)

_K2 = _BASE.replace(context_window=262_144)
_K2_THINKING = _K2.replace(thinking="always", thinking_default=True, reasoning_in_history=True)
#: kimi-k2.5 and later: sampling fixed by the platform, thinking on by default.
_K25 = _K2.replace(
    thinking="optional",
    thinking_default=True,
    reasoning_in_history=True,
    images=True,
    fixed={"temperature": 1.0, "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0},
    fixed_without_thinking={"temperature": 0.6},
)
_V1 = _BASE.replace(tools=True)
_V1_VISION = _V1.replace(images=True, tools=None)

#: The Kimi catalog: every documented model, then family patterns for new ones.
CATALOG = ModelCatalog(
    models={
        "kimi-k2-0905-preview": _K2,
        "kimi-k2-0711-preview": _K2.replace(context_window=131_072),
        "kimi-k2-turbo-preview": _K2,
        "kimi-k2-thinking": _K2_THINKING,
        "kimi-k2-thinking-turbo": _K2_THINKING,
        "kimi-k2.5": _K25,
        "kimi-k2.6": _K25,
        "kimi-latest": _BASE.replace(context_window=131_072, images=True),
        "moonshot-v1-8k": _V1.replace(context_window=8_192),
        "moonshot-v1-32k": _V1.replace(context_window=32_768),
        "moonshot-v1-128k": _V1.replace(context_window=131_072),
        "moonshot-v1-auto": _V1.replace(context_window=131_072),
        "moonshot-v1-8k-vision-preview": _V1_VISION.replace(context_window=8_192),
        "moonshot-v1-32k-vision-preview": _V1_VISION.replace(context_window=32_768),
        "moonshot-v1-128k-vision-preview": _V1_VISION.replace(context_window=131_072),
    },
    families=[
        # Most specific first: the first pattern that matches wins.
        ("kimi-k2*-thinking*", _K2_THINKING),
        ("kimi-k2.[5-9]*", _K25),
        ("kimi-k[3-9]*", _K25),
        ("kimi-k2*", _K2),
        ("moonshot-v1-*-vision*", _V1_VISION),
        ("moonshot-v1-*", _V1),
        ("*-thinking*", _K2_THINKING),
    ],
    # Another kimi-/moonshot- name: the API's own rules, no per-model facts.
    default=_BASE.replace(thinking=None, tools=None, images=None),
)
