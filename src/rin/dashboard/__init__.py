"""The dashboard at `/ui`: one server-rendered page that polls a small JSON API.

    __init__    `ROUTES` (merged into the app's route table) and `PUBLIC`; routes.py imported on first use
    routes.py   the handlers
    state.py    what the page shows: models, budgets, recent requests, sync status
    series.py   spend per day per model / provider / user, for the chart
    sync.py     the "Sync now" button over the runtime's catalogue sync
    assets.py   the page template and the static files (the whitelist /ui/static/ serves)
    redact.py   the last guard before a byte leaves: no configured secret reaches the page

Auth: the page shell and its static files are public (they hold no data); every `/ui/api/*`
call carries the master key as `Authorization: Bearer`, which the page keeps in sessionStorage
after asking for it, so the app's ordinary key check guards the data and no cookie (and so no
CSRF) is involved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rin.asgi import Receive, Send
from rin.dashboard.assets import STATIC

__all__ = ["PUBLIC", "ROUTES"]

Handler = Callable[[Any, dict[str, Any], Receive, Send, str], Awaitable[None]]


def _routes(name: str) -> Handler:
    """routes.<name>, imported (with the state, series and sync modules) on the dashboard's first
    request: a gateway nobody opens the dashboard of never loads them."""
    async def handler(app: Any, scope: dict[str, Any], receive: Receive, send: Send, request_id: str) -> None:
        from rin.dashboard import routes

        await getattr(routes, name)(app, scope, receive, send, request_id)

    return handler


def _static(name: str) -> Handler:
    async def handler(app: Any, scope: dict[str, Any], receive: Receive, send: Send, request_id: str) -> None:
        from rin.dashboard.routes import send_static

        await send_static(send, name)

    return handler


_STATIC_ROUTES: dict[str, dict[str, Handler]] = {f"/ui/static/{name}": {"GET": _static(name)} for name in STATIC}
#: merged into the app's route table
ROUTES: dict[str, dict[str, Handler]] = {
    "/ui": {"GET": _routes("page")},
    "/ui/": {"GET": _routes("page")},
    "/ui/api/state": {"GET": _routes("state")},
    "/ui/api/sync": {"POST": _routes("run_sync")},
    **_STATIC_ROUTES,
}
#: the paths that need no key: the page shell and its static files (no data)
PUBLIC: frozenset[str] = frozenset({"/ui", "/ui/", *_STATIC_ROUTES})
