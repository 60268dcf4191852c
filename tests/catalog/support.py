"""Helpers for the catalogue tests: the committed excerpt, and configs written to real files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rin.catalog import Catalog, parse_catalog
from rin.config import Config, load_config

DATA = Path(__file__).parent / "data"
EXCERPT = DATA / "openrouter_models_excerpt.json"
#: the excerpt's models RIN serves: its chat models, and openai/gpt-image-1, which only draws (served by
#: /v1/images/generations); its embeddings entry is left out
EXCERPT_CHAT_IDS = {
    "openai/gpt-image-1",
    "x-ai/grok-4.6", "google/gemini-3.1-flash-image", "~anthropic/claude-sonnet-latest", "writer/palmyra-x5",
    "openai/gpt-oss-20b:free", "google/gemini-2.5-flash", "meta-llama/llama-3.1-70b-instruct", "openai/gpt-4o",
    "anthropic/claude-3-haiku", "openrouter/auto",
}


def excerpt_doc() -> dict[str, Any]:
    return json.loads(EXCERPT.read_text(encoding="utf-8"))


def excerpt() -> Catalog:
    return parse_catalog(excerpt_doc())


def entry(model_id: str) -> dict[str, Any]:
    """A deep copy of one excerpt entry, to derive edge cases from real data."""
    return copy.deepcopy(next(e for e in excerpt_doc()["data"] if e["id"] == model_id))


def config_from(tmp_path: Path, yaml_text: str, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return load_config(path, env=env or {})


ALIAS = """\
  - model_name: openrouter/gpt-4o
    litellm_params:
      model: openrouter/openai/gpt-4o
      api_key: os.environ/OPENROUTER_API_KEY
"""
