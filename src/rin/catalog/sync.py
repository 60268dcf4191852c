"""Fetching OpenRouter's model list and replacing the cached catalogue with it.

`sync_catalog` either writes a complete, valid catalogue with at least one chat model, or raises
SyncError and leaves the last good file alone: an outage, a timeout, an HTML error page, a changed
JSON shape or an empty list never costs the models RIN already knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson

from rin.catalog.expand import openrouter_access
from rin.catalog.model import Catalog, CatalogError, CatalogFormatError, parse_catalog
from rin.catalog.store import CatalogDiff, diff, load_catalog, write_catalog
from rin.config.resolved import Config, OpenRouterAccess
from rin.errors import UpstreamError
from rin.transport import Transport
from rin.types import UpstreamRequest

DEFAULT_TIMEOUT = 30.0


class SyncError(CatalogError):
    """The catalogue could not be fetched or is unusable; the cached one is unchanged."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    catalog: Catalog
    #: the catalogue the file held before (None: no file, or an unreadable one)
    previous: Catalog | None
    diff: CatalogDiff
    path: Path
    #: where it came from (without credentials)
    url: str


async def sync_catalog(
    config: Config,
    *,
    transport: Transport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    now: datetime | None = None,
) -> SyncResult:
    """Fetch the catalogue for `config` and write it to `config.catalog.path`. Raises SyncError."""
    access = openrouter_access(config.deployments, config.openrouter)
    catalog = await fetch_catalog(access, transport=transport, timeout=timeout, now=now)
    path = config.catalog.path
    try:
        previous = load_catalog(path)
    except CatalogError:
        previous = None  # a damaged cache is simply replaced
    try:
        write_catalog(path, catalog)
    except OSError as exc:
        raise SyncError(f"cannot write the catalogue to {path} ({type(exc).__name__}: {exc.strerror})") from None
    return SyncResult(catalog, previous, diff(previous, catalog), path, models_url(access))


async def fetch_catalog(
    access: OpenRouterAccess,
    *,
    transport: Transport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    now: datetime | None = None,
) -> Catalog:
    """GET `<api_base>/models` with the key (when set) and the attribution headers; the chat models
    it lists. Raises SyncError."""
    url = models_url(access)
    headers = {"Accept": "application/json", **access.headers}
    if access.api_key:
        headers["Authorization"] = f"Bearer {access.api_key.get()}"
    request = UpstreamRequest("GET", f"{access.api_base.rstrip('/')}/models", headers, b"")
    own = transport is None
    client = transport or Transport()
    try:
        response = await client.send(request, "OpenRouter", timeout)
    except UpstreamError as exc:
        raise SyncError(f"cannot fetch the OpenRouter catalogue from {url}: {exc.message}") from None
    except ValueError as exc:  # aiohttp refuses the URL or its headers; its text may echo the URL
        raise SyncError(f"cannot fetch the OpenRouter catalogue from {url}: the request is invalid "
                        f"({type(exc).__name__}); check OPENROUTER_API_BASE") from None
    finally:
        if own:
            await client.close()
    if response.status != 200:
        raise SyncError(f"{url} answered HTTP {response.status}{_reason(response.body)}")
    try:
        doc = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        kind = response.headers.get("Content-Type", "no content type")
        raise SyncError(f"{url} did not answer with JSON ({kind}, {len(response.body)} bytes)") from None
    try:
        catalog = parse_catalog(doc, now or datetime.now(UTC))
    except CatalogFormatError as exc:
        raise SyncError(f"{url} did not answer with a model list: {exc}") from None
    if not len(catalog):
        raise SyncError(f"{url} listed no chat or image models ({catalog.not_text} answering in neither, "
                        f"{catalog.skipped} without an id)")
    return catalog


def models_url(access: OpenRouterAccess) -> str:
    """The catalogue's URL as shown in messages: no user:password, no query string."""
    parts = urlsplit(f"{access.api_base.rstrip('/')}/models")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def _reason(body: bytes) -> str:
    """OpenRouter's `error.message`, if the body has one (short; it never echoes our key)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    error = doc.get("error") if isinstance(doc, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {message[:200]}" if isinstance(message, str) and message else ""
