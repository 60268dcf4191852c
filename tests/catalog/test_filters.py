"""The `catalog:` filters: include / exclude globs, free only, price caps, minimum context."""

from __future__ import annotations

from decimal import Decimal as D

from rin.catalog.filters import select
from rin.config.resolved import CatalogSettings
from tests.catalog.support import EXCERPT_CHAT_IDS, excerpt


def ids(**settings: object) -> set[str]:
    return {m.id for m in select(excerpt(), CatalogSettings(**settings))}  # type: ignore[arg-type]


def test_no_filters_keep_every_chat_model() -> None:
    assert ids() == EXCERPT_CHAT_IDS


def test_include_globs_match_the_catalogue_id_ignoring_case() -> None:
    assert ids(include=("openai/*",)) == {"openai/gpt-4o", "openai/gpt-oss-20b:free", "openai/gpt-image-1"}
    assert ids(include=("Anthropic/*",)) == {"anthropic/claude-3-haiku"}
    assert ids(include=("openrouter/*",)) == {"openrouter/auto"}  # the id, not the served name
    assert ids(include=("~*", "*llama*")) == {"~anthropic/claude-sonnet-latest", "meta-llama/llama-3.1-70b-instruct"}


def test_exclude_wins_over_include() -> None:
    assert ids(include=("openai/*",), exclude=("*:free", "*image*")) == {"openai/gpt-4o"}
    assert ids(exclude=("openrouter/*", "google/*", "~*")) == EXCERPT_CHAT_IDS - {
        "openrouter/auto", "google/gemini-2.5-flash", "google/gemini-3.1-flash-image",
        "~anthropic/claude-sonnet-latest"}


def test_free_only_keeps_zero_priced_models_not_unpriced_routers() -> None:
    assert ids(free_only=True) == {"openai/gpt-oss-20b:free"}


def test_price_caps_are_per_million_tokens_inclusive_and_drop_unknown_prices() -> None:
    # prompt prices per million: flash-image 0.5, gemini-2.5-flash 0.3, llama 0.4, haiku 0.25, free 0
    assert ids(max_prompt_price=D("0.5")) == {
        "google/gemini-3.1-flash-image", "google/gemini-2.5-flash", "meta-llama/llama-3.1-70b-instruct",
        "anthropic/claude-3-haiku", "openai/gpt-oss-20b:free"}
    # completion per million: llama 0.4, haiku 1.25, free 0
    assert ids(max_completion_price=D("1.25")) == {
        "meta-llama/llama-3.1-70b-instruct", "anthropic/claude-3-haiku", "openai/gpt-oss-20b:free"}


def test_min_context() -> None:
    assert ids(min_context=1_000_000) == {
        "~anthropic/claude-sonnet-latest", "writer/palmyra-x5", "google/gemini-2.5-flash", "openrouter/auto"}
    assert ids(min_context=500_000) - ids(min_context=1_000_000) == {"x-ai/grok-4.6"}


def test_filters_combine() -> None:
    assert ids(include=("google/*", "anthropic/*"), max_prompt_price=D("0.4"), min_context=200_000) == {
        "google/gemini-2.5-flash", "anthropic/claude-3-haiku"}
