"""The dashboard's handlers, with the app's handler signature (rin.dashboard routes to them).

Everything under /ui/api/ goes through the app's ordinary master-key check, the page sending the
key as `Authorization: Bearer`.
"""

from __future__ import annotations

from typing import Any

from rin import __version__
from rin.asgi import JSON, Receive, Send, dumps, query, send_bytes
from rin.dashboard import assets, sync
from rin.dashboard.redact import redact, secret_values
from rin.dashboard.state import View, build_state
from rin.errors import PermissionDenied

POLL_MS = 3000
HTML = b"text/html; charset=utf-8"
#: the page runs only its own files: no inline script, nothing from another origin, no framing
PAGE_HEADERS = [
    ("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
]
API_HEADERS = [("x-content-type-options", "nosniff"), ("cache-control", "no-store")]
STATIC_HEADERS = [("x-content-type-options", "nosniff"), ("cache-control", "public, max-age=3600")]
#: a header a cross-site form or image can't send: POSTs without it are refused
CSRF_HEADER = b"x-rin-dashboard"


async def _send_guarded(app: Any, send: Send, body: bytes, content_type: bytes,
                        headers: list[tuple[str, str]], request_id: str) -> None:
    body = redact(body, secret_values(app.rt.config))
    await send_bytes(send, 200, body, content_type, [*headers, ("x-rin-request-id", request_id)])


async def page(app: Any, scope: dict[str, Any], receive: Receive, send: Send, request_id: str) -> None:
    body = assets.render_page(version=__version__, key_required=bool(app.rt.config.general.master_key),
                              poll_ms=POLL_MS)
    await _send_guarded(app, send, body, HTML, PAGE_HEADERS, request_id)


async def state(app: Any, scope: dict[str, Any], receive: Receive, send: Send, request_id: str) -> None:
    data = await build_state(app.rt, View.parse(query(scope)), sync.status(app.rt))
    await _send_guarded(app, send, dumps(data), JSON, API_HEADERS, request_id)


async def run_sync(app: Any, scope: dict[str, Any], receive: Receive, send: Send, request_id: str) -> None:
    await app.read_body(scope, receive)
    if not any(name == CSRF_HEADER for name, _ in scope["headers"]):
        raise PermissionDenied("Start a sync from the dashboard (the request lacks its x-rin-dashboard header).")
    outcome = await sync.run(app.rt)
    await _send_guarded(app, send, dumps(outcome), JSON, API_HEADERS, request_id)


async def send_static(send: Send, name: str) -> None:
    """One of the whitelisted files under /ui/static/ (assets.STATIC)."""
    await send_bytes(send, 200, assets.static_file(name), assets.STATIC[name], STATIC_HEADERS)
