"""`litellm_settings.cache` / `cache_params`, read the LiteLLM way into typed settings.

    litellm_settings:
      cache: true
      cache_params:
        type: redis            # local (default) | redis
        host: os.environ/REDIS_HOST      # else router_settings.redis_host
        port: 6379                       # else router_settings.redis_port, else 6379
        password: os.environ/REDIS_PASSWORD   # else router_settings.redis_password
        ttl: 600               # seconds an answer is kept (default 600)
        namespace: rin         # key prefix rin:cache:{namespace}:
        mode: default_on       # default_off: only requests with cache: {use-cache: true}
        max_size_bytes: 67108864   # RIN: the local cache's bound (also the fallback's under redis)

Values arrive already resolved from `os.environ/` by the config loader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rin.cache.keys import NAMESPACE_RE
from rin.config.problems import ConfigError
from rin.config.resolved import LiteLLMSettings, RouterSettings
from rin.types import Secret

DEFAULT_TTL = 600.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_WHERE = "litellm_settings.cache_params"
_KNOWN = frozenset({
    "type", "host", "port", "password", "username", "db", "ttl", "namespace", "mode", "max_size_bytes",
    "socket_timeout", "socket_connect_timeout",
})
_UNSUPPORTED_TYPES = ("redis-semantic", "valkey-semantic", "qdrant-semantic", "s3", "gcs", "azure-blob", "disk")


@dataclass(slots=True)
class CacheSettings:
    type: str = "local"
    host: str = ""
    port: int = 6379
    password: Secret | None = field(default=None, repr=False)
    username: str | None = None
    db: int = 0
    ttl: float = DEFAULT_TTL
    namespace: str | None = None
    default_on: bool = True
    max_bytes: int = DEFAULT_MAX_BYTES
    socket_timeout: float = 0.25
    connect_timeout: float | None = None
    #: cache_params keys RIN does not use (names only: values may be secrets)
    ignored: list[str] = field(default_factory=list)


def cache_settings(litellm: LiteLLMSettings, router: RouterSettings) -> CacheSettings | None:
    """None when caching is off. Raises ConfigError naming the key for a value RIN can't use."""
    if not litellm.cache:
        return None
    params = dict(litellm.cache_params or {})
    out = CacheSettings(ignored=sorted(k for k in params if k not in _KNOWN))
    kind = str(params.get("type") or "local").lower()
    if kind in ("redis", "local"):
        out.type = kind
    elif kind in _UNSUPPORTED_TYPES:
        raise ConfigError(f"{_WHERE}.type: {kind!r} is a LiteLLM cache RIN does not provide: use local or redis")
    else:
        raise ConfigError(f"{_WHERE}.type: {kind!r} is not a cache type: use local or redis")
    if "redis_url" in params or "url" in params:
        raise ConfigError(f"{_WHERE}: give Redis as host, port and password, not a URL")
    out.ttl = _number(params, "ttl", DEFAULT_TTL)
    out.max_bytes = int(_number(params, "max_size_bytes", DEFAULT_MAX_BYTES))
    out.socket_timeout = _number(params, "socket_timeout", 0.25)
    if params.get("socket_connect_timeout") is not None:
        out.connect_timeout = _number(params, "socket_connect_timeout", 0.25)
    namespace = params.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace):
            raise ConfigError(f"{_WHERE}.namespace: must be 1-64 letters, digits, '_', '.' or '-'")
        out.namespace = namespace
    mode = params.get("mode", "default_on")
    if mode not in ("default_on", "default_off"):
        raise ConfigError(f"{_WHERE}.mode: must be default_on or default_off")
    out.default_on = mode == "default_on"
    if out.type == "redis":
        _redis(out, params, router)
    return out


def _redis(out: CacheSettings, params: dict[str, Any], router: RouterSettings) -> None:
    out.host = str(params.get("host") or router.redis_host or "")
    if not out.host:
        raise ConfigError(f"{_WHERE}: type redis needs a host: set cache_params.host or router_settings.redis_host")
    port = params.get("port") or router.redis_port or 6379
    try:
        out.port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"{_WHERE}.port: must be a port number") from None
    password = params.get("password")
    if isinstance(password, Secret):
        out.password = password or None
    elif password:
        out.password = Secret(str(password))
    else:
        out.password = router.redis_password or None
    out.username = params.get("username") or None
    try:
        out.db = int(params.get("db") or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"{_WHERE}.db: must be a database number") from None


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{_WHERE}.{name}: must be a positive number")
    return number
