"""The last guard before dashboard bytes leave the gateway.

The page is built only from model names, labels and numbers, so no secret should ever be in it;
this guard makes that hold even if a future field (an error message, a sync summary) echoes one.
It fails closed: a secret that somehow sits inside a JSON number breaks the JSON rather than leak.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from rin.config.resolved import Config
from rin.types import Secret

#: shorter values are too likely to match ordinary text (and are no real protection anyway)
MIN_LENGTH = 6
#: a string under a field or key whose name holds one of these is a credential
SECRET_WORDS = ("password", "secret", "token", "api_key", "webhook", "authorization")
#: OpenRouter's attribution headers are public by design (site URL and app name)
PUBLIC_HEADERS = frozenset({"http-referer", "x-title", "x-openrouter-title"})
MASK = b"[redacted]"


def _url_password(value: str) -> str | None:
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def _collect(value: Any, name: str, found: set[str]) -> None:
    if isinstance(value, Secret):
        found.add(value.get())
    elif isinstance(value, str):
        if any(word in name for word in SECRET_WORDS):
            found.add(value)
        elif password := _url_password(value):
            found.add(password)
    elif is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            _collect(getattr(value, item.name), item.name.lower(), found)
    elif isinstance(value, dict):
        for key, item in value.items():
            key = str(key).lower()
            # every header value counts as a credential but the public attribution ones
            secret_header = "headers" in name and key not in PUBLIC_HEADERS
            _collect(item, "secret" if secret_header else key, found)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _collect(item, name, found)


_cache: tuple[Config, list[str]] | None = None


def secret_values(config: Config) -> list[str]:
    """Every credential the config holds, found by walking it: each `Secret`, each header value,
    each string under a secret-sounding name, each password inside a URL. Longest first."""
    global _cache
    if _cache is not None and _cache[0] is config:
        return _cache[1]
    found: set[str] = set()
    _collect(config, "", found)
    values = sorted((v for v in found if len(v) >= MIN_LENGTH), key=len, reverse=True)
    _cache = (config, values)
    return values


def redact(body: bytes, secrets: list[str]) -> bytes:
    """`body` with every secret (as written, and as JSON escapes it) replaced by a mask."""
    for value in secrets:
        for form in {value.encode(), orjson.dumps(value)[1:-1]}:
            if form in body:
                body = body.replace(form, MASK)
    return body
