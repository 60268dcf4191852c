"""Built-in prices for well-known models called directly at OpenAI and Anthropic (`cost_source`
"builtin"): the fallback when neither the config nor the synced catalogue prices a deployment.

Source: LiteLLM's maintained price list, model_prices_and_context_window.json
(https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json), as shipped in
the `litellm` 1.79.3 package on PyPI (litellm/model_prices_and_context_window_backup.json); the
gpt-5.1 and claude-opus-4-5 rows from the same file in `litellm` 1.110.2. Copied 2026-11-24.

USD per token, as Decimal strings. `cache_read` is the price of a prompt token read from the
provider's prompt cache; `cache_write` is Anthropic's 5-minute cache write (1.25x input; its 1-hour
writes cost 2x, which usage doesn't distinguish). Not modelled: long-context tiers (e.g. Claude
Sonnet 4/4.5 above 200k prompt tokens cost 2x input), batch and flex discounts.

The media models (`_MEDIA`) are priced by what their endpoints bill: whisper-1 per second of audio
($0.006 a minute), tts-1 / tts-1-hd per input character ($15 / $30 per 1M), dall-e-2 / dall-e-3 per
image by quality and size, the rest per token. Prices as published on OpenAI's model pages
(developers.openai.com/api/docs/models/<id>), seen 2026-12-03, for whisper-1, tts-1, tts-1-hd,
gpt-4o-transcribe, gpt-4o-mini-transcribe (audio tokens: $2.50 / $10 and $1.25 / $5 per 1M) and
gpt-image-1 (text input $5, image output $40 per 1M; its $10 image-input tokens are billed as text
input: usage doesn't tell them apart); gpt-4o-mini-tts ($0.60 per 1M text input, $12 per 1M audio
output tokens) and the DALL-E image prices as published on openai.com/pricing, seen through copies of
that page (not on OpenAI's own site) on 2026-12-03; LiteLLM's file agrees on every one it lists.
"""

from __future__ import annotations

import re
from decimal import Decimal

from rin import pricing_vertex
from rin.types import ModelInfo

#: id: (vendor, input, output, cache_read, cache_write)
_TABLE: dict[str, tuple[str, str, str, str | None, str | None]] = {
    # OpenAI
    "gpt-5": ("openai", "0.00000125", "0.00001", "0.000000125", None),
    "gpt-5.1": ("openai", "0.00000125", "0.00001", "0.000000125", None),
    "gpt-5-mini": ("openai", "0.00000025", "0.000002", "0.000000025", None),
    "gpt-5-nano": ("openai", "0.00000005", "0.0000004", "0.000000005", None),
    "gpt-5-chat-latest": ("openai", "0.00000125", "0.00001", "0.000000125", None),
    "gpt-4.1": ("openai", "0.000002", "0.000008", "0.0000005", None),
    "gpt-4.1-mini": ("openai", "0.0000004", "0.0000016", "0.0000001", None),
    "gpt-4.1-nano": ("openai", "0.0000001", "0.0000004", "0.000000025", None),
    "gpt-4o": ("openai", "0.0000025", "0.00001", "0.00000125", None),
    "gpt-4o-2024-05-13": ("openai", "0.000005", "0.000015", None, None),
    "gpt-4o-mini": ("openai", "0.00000015", "0.0000006", "0.000000075", None),
    "gpt-4-turbo": ("openai", "0.00001", "0.00003", None, None),
    "gpt-4": ("openai", "0.00003", "0.00006", None, None),
    "gpt-3.5-turbo": ("openai", "0.0000005", "0.0000015", None, None),
    "o1": ("openai", "0.000015", "0.00006", "0.0000075", None),
    "o1-mini": ("openai", "0.0000011", "0.0000044", "0.00000055", None),
    "o3": ("openai", "0.000002", "0.000008", "0.0000005", None),
    "o3-mini": ("openai", "0.0000011", "0.0000044", "0.00000055", None),
    "o4-mini": ("openai", "0.0000011", "0.0000044", "0.000000275", None),
    "text-embedding-3-small": ("openai", "0.00000002", "0", None, None),
    "text-embedding-3-large": ("openai", "0.00000013", "0", None, None),
    "text-embedding-ada-002": ("openai", "0.0000001", "0", None, None),
    # Anthropic (ids without their date; `claude-3-5-sonnet-20241022` finds `claude-3-5-sonnet`)
    "claude-opus-4-5": ("anthropic", "0.000005", "0.000025", "0.0000005", "0.00000625"),
    "claude-opus-4-1": ("anthropic", "0.000015", "0.000075", "0.0000015", "0.00001875"),
    "claude-opus-4": ("anthropic", "0.000015", "0.000075", "0.0000015", "0.00001875"),
    "claude-sonnet-4-5": ("anthropic", "0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-sonnet-4": ("anthropic", "0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-haiku-4-5": ("anthropic", "0.000001", "0.000005", "0.0000001", "0.00000125"),
    "claude-3-7-sonnet": ("anthropic", "0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-3-5-sonnet": ("anthropic", "0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-3-5-haiku": ("anthropic", "0.0000008", "0.000004", "0.00000008", "0.000001"),
    "claude-3-opus": ("anthropic", "0.000015", "0.000075", "0.0000015", "0.00001875"),
    "claude-3-haiku": ("anthropic", "0.00000025", "0.00000125", "0.00000003", "0.0000003"),
}

#: a release date or alias at the end of an id: -2024-08-06, -20241022, -latest
_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def _info(vendor: str, inp: str, out: str, read: str | None, write: str | None, model: str) -> ModelInfo:
    return ModelInfo(
        input_cost_per_token=Decimal(inp),
        output_cost_per_token=Decimal(out),
        cache_read_cost_per_token=Decimal(read) if read is not None else None,
        cache_write_cost_per_token=Decimal(write) if write is not None else None,
        mode="embedding" if model.startswith("text-embedding") else "chat",
        price_source="builtin",
    )


def _media(mode: str, **prices: str | dict[str, str]) -> ModelInfo:
    fields = {name: {k: Decimal(v) for k, v in value.items()} if isinstance(value, dict) else Decimal(value)
              for name, value in prices.items()}
    return ModelInfo(mode=mode, price_source="builtin", **fields)  # type: ignore[arg-type]


_DALL_E_3 = {
    # a size alone (no quality, or one the table doesn't list, e.g. "auto") is standard quality
    "1024x1024": "0.04", "1024x1792": "0.08", "1792x1024": "0.08",
    "standard/1024x1024": "0.04", "standard/1024x1792": "0.08", "standard/1792x1024": "0.08",
    "hd/1024x1024": "0.08", "hd/1024x1792": "0.12", "hd/1792x1024": "0.12",
}

#: OpenAI's media models, by id (all called at provider "openai")
_MEDIA: dict[str, ModelInfo] = {
    "whisper-1": _media("audio_transcription", input_cost_per_second="0.0001"),
    "gpt-4o-transcribe": _media("audio_transcription", input_cost_per_token="0.0000025",
                                output_cost_per_token="0.00001"),
    "gpt-4o-mini-transcribe": _media("audio_transcription", input_cost_per_token="0.00000125",
                                     output_cost_per_token="0.000005"),
    "tts-1": _media("audio_speech", input_cost_per_character="0.000015"),
    "tts-1-hd": _media("audio_speech", input_cost_per_character="0.00003"),
    "gpt-4o-mini-tts": _media("audio_speech", input_cost_per_token="0.0000006", output_cost_per_token="0.000012"),
    "dall-e-2": _media("image_generation", output_cost_per_image_by_size={
        "256x256": "0.016", "512x512": "0.018", "1024x1024": "0.02"}),
    "dall-e-3": _media("image_generation", output_cost_per_image_by_size=_DALL_E_3),
    "gpt-image-1": _media("image_generation", input_cost_per_token="0.000005", output_cost_per_token="0.00004",
                          cache_read_cost_per_token="0.00000125"),
}

PRICES: dict[str, ModelInfo] = {model: _info(*row, model) for model, row in _TABLE.items()} | _MEDIA
_VENDOR: dict[str, str] = {model: row[0] for model, row in _TABLE.items()} | {model: "openai" for model in _MEDIA}


def lookup(provider: str, model: str) -> ModelInfo | None:
    """Prices for `model` called directly at `provider`; a dated or `-latest` id falls back to its
    family (`gpt-4o-2024-08-06` -> `gpt-4o`) unless the table lists that id itself. Vertex AI's
    models have prices of their own (rin.pricing_vertex)."""
    if provider == "vertex_ai":
        return pricing_vertex.lookup(model)
    for candidate in (model, _SUFFIX.sub("", model)):
        if _VENDOR.get(candidate) == provider:
            return PRICES[candidate]
    return None
