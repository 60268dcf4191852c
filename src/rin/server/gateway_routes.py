"""The gateway's own routes, beside the model API: the model list and model info, health and
readiness, metrics, spend reports, the OpenAPI document, and the admin API's reload and sync. Each
is a handler `(app, scope, receive, send, request_id)` that the App's route table names."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rin import __version__
from rin.asgi import JSON, Receive, Send, send_bytes, send_json
from rin.errors import ServiceUnavailable
from rin.model_list import model_info_body, model_list_body
from rin.server.workers import restart_workers

_Handler = Callable[[Any, dict[str, Any], Receive, Send, str], Awaitable[None]]


def lists_models(handler: _Handler) -> _Handler:
    """`handler`, run once the cached catalogue that start-up left loading is in: it lists models
    the catalogue may add (rin.catalog.pending)."""
    @functools.wraps(handler)
    async def listing(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        if (pending := app.rt.pending_catalog) is not None:
            await pending.wait()
        await handler(app, scope, receive, send, rid)

    return listing


@lists_models
async def models(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    key = scope.get("rin.key")
    gen = app.rt.gen
    if key is None or not key.models:
        await send_bytes(send, 200, gen.models_body, JSON)
        return
    # a key limited to some models sees only those (built per generation and model set)
    cached = app.models_for_key.get(key.models)
    if cached is None or cached[0] is not gen:
        if len(app.models_for_key) > 1000:
            app.models_for_key.clear()
        cached = app.models_for_key[key.models] = (gen, model_list_body(gen.config, frozenset(key.models)))
    await send_bytes(send, 200, cached[1], JSON)


@lists_models
async def model_info(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    router = app.rt.router
    key = scope.get("rin.key")
    allowed = frozenset(key.models) if key is not None and key.models else None
    body = model_info_body(app.rt.config, router.cooldowns.snapshot(), router.clock(), allowed)
    await send_bytes(send, 200, body, JSON)


async def spend_logs(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    from rin.server import spend

    await send_bytes(send, 200, await spend.spend_logs(app.rt, scope), JSON)


async def spend_report(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    from rin.server import spend

    await send_bytes(send, 200, await spend.spend_report(app.rt, scope), JSON)


@lists_models
async def metrics(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    await send_bytes(send, 200, app.counters.render(app.rt), b"text/plain; version=0.0.4")


async def admin_reload(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    await app.read_body(scope, receive)
    await send_json(send, 200, await app.reload())


async def admin_sync(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    from rin.catalog import SyncError

    await app.read_body(scope, receive)
    try:
        summary = await app.rt.sync_catalog()
    except SyncError as err:
        raise ServiceUnavailable(f"The catalogue sync failed; the last good catalogue keeps serving. {err}",
                                 code="sync_failed") from None
    if (workers := restart_workers()) is not None:
        summary["workers_restarting"] = workers
    await send_json(send, 200, {"status": "synced", **summary})


@lists_models
async def health(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    config = app.rt.config
    healthy, unhealthy = [], []
    cooling = app.rt.router.cooldowns.snapshot()
    for dep in config.deployments:
        entry = {"model": dep.model_name, "deployment": dep.label}
        if dep.enabled and dep.id not in cooling:
            healthy.append(entry)
        else:
            unhealthy.append({**entry, "reason": dep.disabled_reason or "cooling down"})
    await send_json(send, 200, {
        "status": "healthy" if healthy else "degraded",
        "version": __version__,
        "healthy_count": len(healthy),
        "unhealthy_count": len(unhealthy),
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "missing_env": config.missing_env,
    })


@lists_models
async def openapi(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    from rin.server.openapi import spec_for

    config = app.rt.config
    await send_json(send, 200, spec_for([m for m in config.groups if config.enabled(m)]))


async def liveliness(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    await send_bytes(send, 200, b'"I\'m alive!"', JSON)


async def readiness(app: Any, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
    """Ready while it can answer; a ledger outage is reported (rows wait, nothing is lost)."""
    ledger = app.rt.ledger
    body: dict[str, Any] = {"status": "ready", "version": __version__,
                            "uptime_seconds": round(time.time() - app.started, 1),
                            "in_flight": app.in_flight}
    if ledger is not None:
        body["ledger"] = {"healthy": ledger.healthy, "database": ledger.label, "pending_rows": ledger.pending,
                          "lag_seconds": round(ledger.lag_seconds, 3)}
        if not ledger.healthy:
            body["status"] = "degraded"
    if app.rt.cache is not None:
        body["cache"] = app.rt.cache.stats()
    await send_json(send, 200, body)
