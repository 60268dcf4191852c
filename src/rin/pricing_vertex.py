"""Built-in prices for Google Vertex AI models (`vertex_ai/<model>`, cost_source "builtin"):
Gemini, Claude from the Model Garden, and Google's embedding models. Vertex sets its own prices
for partner models (claude-3-5-haiku costs $1 / $5 per 1M there, $0.80 / $4 at Anthropic), so
these are not the rows of rin.pricing_builtin.

Source: the LiteLLM price list rin.pricing_builtin copies (`litellm` 1.79.3 on PyPI,
litellm/model_prices_and_context_window_backup.json): its `vertex_ai/claude-*` rows (ids without
their `@date`: every dated row costs what its family does) and the Gemini and embedding rows
whose litellm_provider is `vertex_ai-*`. One departure: `gemini-2.0-flash` takes the row of
`gemini-2.0-flash-001`, the version that alias serves, whose source is Vertex's pricing page;
LiteLLM's bare row carries the Gemini API's lower price. Copied 2026-12-03.

USD per token, as Decimal strings: (input, output, cache read, cache write). Not modelled: Gemini
2.5 Pro's higher prices above 200k prompt tokens, audio-token input prices, and the per-character
prices of the embedding models (Vertex reports their token counts, which these rows price).
"""

from __future__ import annotations

from decimal import Decimal

from rin.types import ModelInfo

_TABLE: dict[str, tuple[str, str, str | None, str | None]] = {
    "gemini-2.5-pro": ("0.00000125", "0.00001", "0.000000125", None),
    "gemini-2.5-flash": ("0.0000003", "0.0000025", "0.00000003", None),
    "gemini-2.5-flash-lite": ("0.0000001", "0.0000004", "0.000000025", None),
    "gemini-2.0-flash": ("0.00000015", "0.0000006", "0.0000000375", None),
    "gemini-2.0-flash-001": ("0.00000015", "0.0000006", "0.0000000375", None),
    "gemini-2.0-flash-lite": ("0.000000075", "0.0000003", "0.00000001875", None),
    "gemini-2.0-flash-lite-001": ("0.000000075", "0.0000003", "0.00000001875", None),
    "claude-opus-4-1": ("0.000015", "0.000075", "0.0000015", "0.00001875"),
    "claude-opus-4": ("0.000015", "0.000075", "0.0000015", "0.00001875"),
    "claude-sonnet-4-5": ("0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-sonnet-4": ("0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-haiku-4-5": ("0.000001", "0.000005", "0.0000001", "0.00000125"),
    "claude-3-7-sonnet": ("0.000003", "0.000015", "0.0000003", "0.00000375"),
    "claude-3-5-sonnet-v2": ("0.000003", "0.000015", None, None),
    "claude-3-5-sonnet": ("0.000003", "0.000015", None, None),
    "claude-3-5-haiku": ("0.000001", "0.000005", None, None),
    "claude-3-opus": ("0.000015", "0.000075", None, None),
    "claude-3-sonnet": ("0.000003", "0.000015", None, None),
    "claude-3-haiku": ("0.00000025", "0.00000125", None, None),
    "gemini-embedding-001": ("0.00000015", "0", None, None),
    "text-embedding-005": ("0.0000001", "0", None, None),
    "text-embedding-004": ("0.0000001", "0", None, None),
    "text-multilingual-embedding-002": ("0.0000001", "0", None, None),
}


def _info(model: str, inp: str, out: str, read: str | None, write: str | None) -> ModelInfo:
    return ModelInfo(
        input_cost_per_token=Decimal(inp),
        output_cost_per_token=Decimal(out),
        cache_read_cost_per_token=Decimal(read) if read is not None else None,
        cache_write_cost_per_token=Decimal(write) if write is not None else None,
        mode="embedding" if "embedding" in model else "chat",
        price_source="builtin",
    )


PRICES: dict[str, ModelInfo] = {model: _info(model, *row) for model, row in _TABLE.items()}


def lookup(model: str) -> ModelInfo | None:
    """Prices for a Vertex AI model id; a Claude version (`claude-3-5-haiku@20241022`) finds its family."""
    return PRICES.get(model) or PRICES.get(model.partition("@")[0])
