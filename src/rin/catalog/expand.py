"""Config + catalogue -> the Config the gateway serves.

    hand-written openrouter deployments   keep priority; ModelInfo fields the config left unset are
                                          filled from the catalogue; one whose model left the
                                          catalogue is flagged (`catalog_missing`) and warned about
    every other catalogue model           that passes the `catalog:` filters becomes a deployment
                                          `openrouter/<id>` (unlisted when `catalog.expose` is false)

`expand` never changes its input, and expanding an already expanded config gives the same result,
so a new sync or a reload can simply expand again.
"""

from __future__ import annotations

from dataclasses import replace

from rin.catalog.filters import select
from rin.catalog.model import Catalog, CatalogError
from rin.catalog.store import load_catalog
from rin.config.resolved import Config, OpenRouterAccess
from rin.types import Deployment, ModelInfo

#: `Deployment.id` prefix of the deployments made from catalogue entries
SYNCED_ID_PREFIX = "catalog:"
NO_KEY = "OPENROUTER_API_KEY is not set"
_MISSING = " is no longer in the OpenRouter catalogue "

_FILLED = ("context_length", "max_output_tokens", "supports_vision", "supports_function_calling",
           "supports_reasoning", "supports_response_format", "display_name")
_PRICES = ("input_cost_per_token", "output_cost_per_token", "cache_read_cost_per_token",
           "cache_write_cost_per_token", "cost_per_request")


def expand(config: Config, catalog: Catalog | None) -> Config:
    """A new Config: `config`'s deployments resolved against `catalog`, plus the synced models."""
    own = [replace(dep) for dep in config.deployments if not is_synced(dep)]
    warnings = [w for w in config.warnings if not _ours(w)]
    if not config.catalog.enabled or catalog is None:
        return replace(config, deployments=own, groups={}, warnings=warnings)
    for index, dep in enumerate(own):
        if dep.provider != "openrouter":
            continue
        found = catalog.get(dep.provider_model)
        if found is not None:
            own[index] = replace(dep, info=enrich(dep.info, found.info), catalog_missing=False)
        elif len(catalog):
            own[index] = replace(dep, catalog_missing=True)
            warnings.append(missing_warning(dep, catalog))
    synced = synced_deployments(config, catalog, own)
    unusable = sum(1 for dep in synced if not dep.enabled)
    if unusable:
        warnings.append(f"catalog: {unusable} synced OpenRouter models are disabled: {NO_KEY}")
    return replace(config, deployments=own + synced, groups={}, warnings=warnings)


def synced_deployments(config: Config, catalog: Catalog, own: list[Deployment]) -> list[Deployment]:
    """One `openrouter/<id>` deployment per catalogue model that passes the filters and whose name no
    model_list entry already uses, sorted by name."""
    taken = {dep.model_name for dep in own}
    # a model a hand-written alias already serves stays routable by its id but is not listed twice
    aliased = {dep.provider_model for dep in own if dep.provider == "openrouter"}
    access = openrouter_access(own, config.openrouter)
    reason = None if access.api_key else NO_KEY
    return [
        Deployment(
            model_name=f"openrouter/{model.id}",
            provider="openrouter",
            provider_model=model.id,
            api_base=access.api_base,
            id=SYNCED_ID_PREFIX + model.id,
            api_key=access.api_key,
            extra_headers=dict(access.headers),
            info=model.info,
            disabled_reason=reason,
            listed=config.catalog.expose and model.id not in aliased,
        )
        for model in sorted(select(catalog, config.catalog), key=lambda m: m.id)
        if f"openrouter/{model.id}" not in taken
    ]


def openrouter_access(deployments: list[Deployment], default: OpenRouterAccess) -> OpenRouterAccess:
    """Where and how to reach OpenRouter: as the first enabled hand-written OpenRouter deployment does
    (its api_base, key and headers), else from the environment as resolved at load time."""
    for dep in deployments:
        if dep.provider == "openrouter" and dep.enabled and not is_synced(dep):
            return OpenRouterAccess(dep.api_base, dep.api_key, dict(dep.extra_headers))
    return default


def enrich(own: ModelInfo, listed: ModelInfo) -> ModelInfo:
    """`own` with the fields it leaves unset taken from the catalogue's `listed`. Prices go as one
    set: the catalogue's only when the config priced nothing, so a request's cost has one source."""
    fill = {name: value for name in _FILLED
            if getattr(own, name) is None and (value := getattr(listed, name)) is not None}
    if own.price_source is None and listed.price_source == "catalog":
        fill.update({name: getattr(listed, name) for name in _PRICES}, price_source="catalog")
    return replace(own, **fill)


def missing_warning(dep: Deployment, catalog: Catalog) -> str:
    synced = catalog.synced_at.strftime("%Y-%m-%d") if catalog.synced_at else "at an unknown date"
    return (f"{dep.model_name}: '{dep.provider_model}'{_MISSING}"
            f"(synced {synced}); requests to it will likely fail — update model_list")


def _ours(warning: str) -> bool:
    """A warning an earlier `expand` added (replaced, not repeated, when expanding again)."""
    return warning.startswith("catalog: ") or _MISSING in warning


def is_synced(dep: Deployment) -> bool:
    """True for a deployment `expand` made from a catalogue entry (not written in model_list)."""
    return dep.id.startswith(SYNCED_ID_PREFIX)


def expand_cached(config: Config) -> tuple[Config, Catalog | None]:
    """`config` expanded with the catalogue cached at `catalog.path` (what startup, reload and
    `rin models` use), and that catalogue. A missing file means no catalogue yet; a damaged one is
    reported in the warnings and ignored."""
    if not config.catalog.enabled:
        return expand(config, None), None
    try:
        catalog = load_catalog(config.catalog.path)
    except CatalogError as exc:
        expanded = expand(config, None)
        expanded.warnings.append(damaged_warning(exc))
        return expanded, None
    return expand(config, catalog), catalog


def damaged_warning(exc: CatalogError) -> str:
    """What is said about a cached catalogue file that cannot be used."""
    return f"catalog: {exc}; serving without it until the next sync"
