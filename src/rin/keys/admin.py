"""The key admin API under LiteLLM's names: POST /key/generate, GET /key/info, POST /key/update,
POST /key/delete, GET /key/list. The app lets only the master key reach these handlers.

A key's value appears in exactly one response, /key/generate's; everything else names keys by
their hash (LiteLLM's `token`). Requests may name a key by its value or its hash."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from rin.asgi import Receive, Send, query, send_json
from rin.errors import InvalidRequest
from rin.keys.fields import parse_fields
from rin.keys.model import VirtualKey, generate_key, key_hash_of, now_utc
from rin.keys.ring import KeyRing

SpendOf = Callable[[str], Awaitable[Decimal]]

#: a response carrying a key must not be kept by any cache on the way
_NO_STORE = [("cache-control", "no-store")]
_MAX_DELETE = 1000
#: path -> (method, KeyAdmin handler)
ROUTES: dict[str, tuple[str, str]] = {
    "/key/generate": ("POST", "generate"), "/key/info": ("GET", "info"), "/key/update": ("POST", "update"),
    "/key/delete": ("POST", "delete"), "/key/list": ("GET", "list"),
}


def not_found(param: str, what: str = "That key") -> InvalidRequest:
    return InvalidRequest(f"{what} is not a key of this gateway.", param=param, code="key_not_found", status=404)


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def _ref(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise InvalidRequest(f"'{param}' must be a key (sk-rin-...) or a key hash.", param=param)
    return key_hash_of(value)


class KeyAdmin:
    """Handlers with the app's signature `(app, scope, receive, send, request_id)`; `app` must offer
    `read_body(scope, receive)` (the body size cap)."""

    def __init__(self, ring: KeyRing, spend_of: SpendOf, now: Callable[[], datetime] = now_utc) -> None:
        self.ring = ring
        self.spend_of = spend_of
        self.now = now

    def routes(self) -> dict[str, dict[str, Callable[..., Awaitable[None]]]]:
        """For the app's route table: `app.routes.update(admin.routes())`."""
        return {path: {method: getattr(self, name)} for path, (method, name) in ROUTES.items()}

    async def generate(self, app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        now = self.now()
        fields = parse_fields(_object(await app.read_body(scope, receive)), now)
        secret = generate_key()
        key = VirtualKey.new(secret, created_at=now, **fields)
        await self.ring.create(key)
        await send_json(send, 200, {"key": secret, **key.info()}, _NO_STORE)

    async def info(self, app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        key_hash = _ref(query(scope).get("key"), "key")
        key = await self.ring.store.get(key_hash)
        if key is None:
            raise not_found("key")
        await send_json(send, 200, {"key": key_hash, "info": key.info(await self.spend_of(key_hash))})

    async def update(self, app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        body = _object(await app.read_body(scope, receive))
        key_hash = _ref(body.pop("key", None), "key")
        key = await self.ring.update(key_hash, **parse_fields(body, self.now()))
        if key is None:
            raise not_found("key")
        await send_json(send, 200, {"key": key_hash, **key.info()})

    async def delete(self, app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        """Revokes every key named in `keys` (values or hashes) and `key_aliases`, or none of them."""
        body = _object(await app.read_body(scope, receive))
        unknown = set(body) - {"keys", "key_aliases"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidRequest(f"Unknown field '{name}'; /key/delete takes keys and key_aliases.", param=name)
        refs, aliases = body.get("keys") or [], body.get("key_aliases") or []
        for name, items in (("keys", refs), ("key_aliases", aliases)):
            if not isinstance(items, list) or len(items) > _MAX_DELETE:
                raise InvalidRequest(f"'{name}' must be a list of at most {_MAX_DELETE} entries.", param=name)
        if not refs and not aliases:
            raise InvalidRequest("Name the keys to delete in 'keys' (or 'key_aliases').", param="keys")
        hashes = [_ref(r, f"keys[{i}]") for i, r in enumerate(refs)]
        for i, h in enumerate(hashes):
            if await self.ring.store.get(h) is None:
                raise not_found(f"keys[{i}]", f"keys[{i}]")
        if aliases:
            live = {k.alias: k.key_hash for k in await self.ring.store.all() if k.revoked_at is None}
            for i, alias in enumerate(aliases):
                if not isinstance(alias, str) or alias not in live:
                    raise not_found(f"key_aliases[{i}]", f"key_aliases[{i}]")
                hashes.append(live[alias])
        done = list(dict.fromkeys(hashes))
        for h in done:
            await self.ring.revoke(h)
        await send_json(send, 200, {"deleted_keys": done})

    async def list(self, app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        """Live keys: hashes, or whole records with `return_full_object=true`."""
        full = query(scope).get("return_full_object", "").lower() == "true"
        keys = [k for k in await self.ring.store.all() if k.revoked_at is None]
        items: list[Any] = [k.info() for k in keys] if full else [k.key_hash for k in keys]
        await send_json(send, 200, {"keys": items, "total_count": len(items)})
