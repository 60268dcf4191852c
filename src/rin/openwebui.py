"""`rin openwebui-export`: RIN's model groups as the JSON Open WebUI imports (Admin Panel → Settings →
Models → Import, or Workspace → Models → Import as an admin).

Open WebUI reads only `id` and `name` from GET /v1/models and treats every capability it is not told
about as present, so it offers image upload and its dozens of built-in tools to models that accept
neither. Each entry written here is a "base model override" (`base_model_id` null, same `id` as the
RIN model group) carrying a readable name, a description, capability switches from RIN's model info
and tags for the picker. The fields are those of Open WebUI's `ModelForm`
(backend/open_webui/models/models.py, 0.12.x): id, base_model_id, name, meta, params, access_grants,
is_active.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from rin.codecs.modes import mode_of
from rin.config.resolved import Config
from rin.model_list import readable_name
from rin.types import Deployment

#: capabilities RIN cannot provide through a plain chat completion: Open WebUI's own features that
#: need its web-search / image / code-execution backends configured, off unless the admin turns them on
_OFF = ("web_search", "image_generation", "code_interpreter")
#: Open WebUI's grant for "every user may use this model" (models/access_grants.py)
PUBLIC_READ = {"principal_type": "user", "principal_id": "*", "permission": "read"}


def export_models(config: Config) -> list[dict[str, Any]]:
    """One Open WebUI model entry per model group that RIN serves in GET /v1/models."""
    entries = []
    for name in config.groups:
        deps = [d for d in config.enabled(name) if d.listed]
        if deps:
            entries.append(model_entry(name, deps))
    return entries


def model_entry(name: str, deps: list[Deployment]) -> dict[str, Any]:
    # an embedding, speech, image or rerank group answers no chat request: kept out of the chat
    # picker, with no chat capabilities
    chat = all(mode_of(d) == "chat" for d in deps)
    # The router skips a deployment only when its model info says False: unknown means allowed.
    vision = chat and any(d.info.supports_vision is not False for d in deps)
    tools = chat and any(d.info.supports_function_calling is not False for d in deps)
    capabilities: dict[str, bool] = {
        "vision": vision,
        "file_upload": True,
        **{key: False for key in _OFF},
        "citations": True,
        "usage": True,  # makes Open WebUI send stream_options.include_usage, so it shows token counts
        "builtin_tools": tools,
    }
    return {
        "id": name,
        "base_model_id": None,
        "name": readable_name(name, deps),
        "meta": {
            "description": describe(deps, vision, tools),
            "capabilities": capabilities,
            "tags": [{"name": tag} for tag in tags(deps, vision, tools)],
        },
        "params": {"function_calling": "native"} if tools else {},
        # Open WebUI shows a model without grants to admins only; RIN's own key and budgets decide
        # who may spend, so every signed-in user may read (use) every model
        "access_grants": [PUBLIC_READ],
        "is_active": chat,
    }


def describe(deps: list[Deployment], vision: bool, tools: bool) -> str:
    first = deps[0]
    info = first.info
    parts = [f"{first.label} via RIN" + (f" (+{len(deps) - 1} more)" if len(deps) > 1 else "")]
    abilities = [word for word, on in (("vision", vision), ("tools", tools),
                                       ("reasoning", bool(info.supports_reasoning))) if on]
    parts.append(", ".join(abilities) if abilities else "text only")
    if info.context_length:
        parts.append(f"{_tokens(info.context_length)} context")
    if info.input_cost_per_token is not None and info.output_cost_per_token is not None:
        parts.append(f"${_per_million(info.input_cost_per_token)} in / "
                     f"${_per_million(info.output_cost_per_token)} out per 1M tokens")
    return " · ".join(parts)


def tags(deps: list[Deployment], vision: bool, tools: bool) -> list[str]:
    found = [deps[0].provider]
    found += [tag for tag, on in (("vision", vision), ("tools", tools),
                                  ("reasoning", any(d.info.supports_reasoning for d in deps))) if on]
    return found


def _tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{round(count / 1_000_000, 1):g}M"  # 1048576 -> 1M
    return f"{round(count / 1000)}K" if count >= 1000 else str(count)


def _per_million(price: Decimal) -> str:
    return format((price * 1_000_000).quantize(Decimal("0.01")), "f")


def run_export(config_path: str | Path, out_path: str | Path | None) -> int:
    """`rin openwebui-export`: write the export to `out_path` ("-" or None: stdout); exit status."""
    from rin.catalog import expand_cached
    from rin.bootstrap import load_dotenv_file
    from rin.config import ConfigError, load_config

    load_dotenv_file()  # the keys decide which models are enabled, as for `rin serve`
    try:
        config = load_config(config_path)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    config, _ = expand_cached(config)
    models = export_models(config)
    if not models:
        missing = ", ".join(config.missing_env) or "the provider keys"
        print(f"error: {config_path}: no model is enabled, nothing to export (set {missing})", file=sys.stderr)
        return 1
    data = orjson.dumps(models, option=orjson.OPT_INDENT_2) + b"\n"
    if out_path is None or str(out_path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    Path(out_path).write_bytes(data)
    print(f"wrote {len(models)} models to {out_path}: import it in Open WebUI under "
          "Admin Panel → Settings → Models → Import", file=sys.stderr)
    return 0
