"""Per-request cache controls: LiteLLM's `cache` body object and the HTTP `Cache-Control` header.

    body  "cache": {"no-cache": true}    don't answer from the cache (the fresh answer is stored)
          "cache": {"no-store": true}    don't store this answer
          "cache": {"ttl": 60}           store it for 60 s instead of cache_params.ttl
          "cache": {"s-maxage": 30}      only accept a cached answer at most 30 s old
          "cache": {"namespace": "x"}    read and write entries under namespace x
          "cache": {"use-cache": true}   opt in when cache_params.mode is default_off
    header Cache-Control: no-cache | no-store | max-age=N   (max-age as s-maxage; others ignored)

Either source can only narrow what the cache may do: the strictest of the two wins.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from rin.cache.keys import NAMESPACE_RE
from rin.errors import InvalidRequest

_BODY_KEYS = ("no-cache", "no-store", "ttl", "s-maxage", "namespace", "use-cache")
#: a year: a ttl beyond that is a typo (milliseconds?), not an intent
_MAX_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CacheControl:
    #: may this request be answered from the cache
    read: bool = True
    #: may this request's answer be stored
    write: bool = True
    #: seconds to keep the stored answer; None means cache_params.ttl
    ttl: float | None = None
    #: oldest cached answer (seconds) this request accepts; None means any unexpired one
    max_age: float | None = None
    #: None means cache_params.namespace
    namespace: str | None = None


DEFAULT = CacheControl()


def parse_controls(body: dict[str, Any], cache_control: str | None = None, default_on: bool = True) -> CacheControl:
    """The controls of one request. Raises InvalidRequest naming the field that is wrong."""
    raw = body.get("cache")
    if raw is None and not cache_control and default_on:
        return DEFAULT
    if raw is not None and not isinstance(raw, dict):
        raise InvalidRequest("'cache' must be an object, e.g. {\"no-cache\": true}.", param="cache")
    opts = raw or {}
    for name in opts:
        if name not in _BODY_KEYS:
            near = difflib.get_close_matches(str(name), _BODY_KEYS, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else f" Known: {', '.join(_BODY_KEYS)}."
            raise InvalidRequest(f"'cache.{name}' is not a cache control.{hint}", param=f"cache.{name}")
    read = not _flag(opts, "no-cache")
    write = not _flag(opts, "no-store")
    if not _flag(opts, "use-cache") and not default_on:
        read = write = False
    ttl = _seconds(opts, "ttl", zero_ok=False)
    max_age = _seconds(opts, "s-maxage", zero_ok=True)
    namespace = opts.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace)):
        raise InvalidRequest("'cache.namespace' must be 1-64 letters, digits, '_', '.' or '-'.",
                             param="cache.namespace")
    if cache_control:
        h_read, h_write, h_age = _header(cache_control)
        read, write = read and h_read, write and h_write
        if h_age is not None:
            max_age = h_age if max_age is None else min(max_age, h_age)
    if max_age == 0:
        read = False
    return CacheControl(read, write, ttl, max_age, namespace)


def _flag(opts: dict[str, Any], name: str) -> bool:
    value = opts.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"'cache.{name}' must be true or false.", param=f"cache.{name}")
    return value


def _seconds(opts: dict[str, Any], name: str, zero_ok: bool) -> float | None:
    value = opts.get(name)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0 or (value == 0 and not zero_ok) or value > _MAX_SECONDS):
        raise InvalidRequest(f"'cache.{name}' must be a {'' if zero_ok else 'positive '}number of seconds, "
                             f"at most {_MAX_SECONDS}.",
                             param=f"cache.{name}")
    return float(value)


def _header(value: str) -> tuple[bool, bool, float | None]:
    read = write = True
    max_age: float | None = None
    for directive in value.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            read = False
        elif name == "no-store":
            write = False
        elif name == "max-age":
            arg = arg.strip().strip('"')
            if not (arg.isascii() and arg.isdigit()) or int(arg) > _MAX_SECONDS:
                raise InvalidRequest(f"Cache-Control max-age must be a whole number of seconds, got {arg!r}.",
                                     param="Cache-Control")
            age = float(arg)
            max_age = age if max_age is None else min(max_age, age)
    return read, write, max_age
