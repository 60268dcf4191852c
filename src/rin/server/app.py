"""The ASGI application. Plain ASGI rather than a framework: the hot path is a dict lookup,
a body read and a handler call."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
import hashlib
import itertools
import os
import signal
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rin import codecs, dashboard, deadlines
from rin.errors import (
    AuthenticationFailed, InvalidRequest, MethodNotAllowed, PermissionDenied, PayloadTooLarge, RequestTimeout, RinError,
    RouteNotFound, ServiceUnavailable,
)
from rin.keys import VirtualKey
from rin.keys.admin import KeyAdmin
from rin.runtime import Runtime
from rin.codecs import CHAT, Codec, codec_for
from rin.codecs.modes import check_mode
from rin.server.protocol_routes import RESPONSE_PREFIXES, count_tokens, delete_response, get_response
from rin.server.pipeline import Pipeline, send_codec_error
from rin.server.gc_tuning import tune_gc
from rin.server import gateway_routes as own
from rin.server.metrics import Metrics
from rin.server.workers import restart_workers
from rin.asgi import Receive, Send, send_error

log = logging.getLogger("rin.server")

Handler = Callable[["App", dict[str, Any], Receive, Send, str], Awaitable[None]]

#: seconds a client may take to send each part of its request body (slow-client guard)
BODY_TIMEOUT = 30.0

#: what a virtual key may call; every other non-public route needs the master key
_COUNT_TOKENS = ("/v1/messages/count_tokens", "/messages/count_tokens")

VIRTUAL_KEY_ROUTES = (frozenset({"/v1/models", "/models", "/model/info", "/v1/model/info", *_COUNT_TOKENS})
                      | codecs.PATHS)

#: routes that change the gateway: only ever with the master key
ADMIN_PREFIXES = ("/admin/", "/key/")

#: routes anyone may call even when a master key is set
PUBLIC = frozenset({"/health", "/health/liveliness", "/health/readiness", "/openapi.json"}) | dashboard.PUBLIC


_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(1)


def next_request_id() -> str:
    """Unique across processes and restarts (a random per-process prefix), cheap per request."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def _digest(value: str) -> bytes:
    """SHA-256 of a whole key, as rin.keys.model.hash_key computes it (hex there)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def _bearer(scope: dict[str, Any]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else text.strip()
        if name in (b"x-api-key", b"api-key"):
            return value.decode("latin-1").strip()
    return None


def _raw_path(scope: dict[str, Any]) -> str:
    """The path as the client sent it (no query string): routes and auth are decided on it."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope.get("path", "")


def _header(scope: dict[str, Any], wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


class App:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.pipeline = Pipeline(runtime)
        self.counters = Metrics()
        runtime.listeners.append(self.counters)
        self.started = time.time()
        self.in_flight = 0
        #: the master key's Secret and its SHA-256, recomputed when a reload brings a new one
        self._master: tuple[Any, bytes] = (None, b"")
        #: /v1/models for keys limited to some models: their model tuple -> (generation, body)
        self.models_for_key: dict[tuple[str, ...], tuple[Any, bytes]] = {}
        self.max_in_flight = runtime.config.general.global_max_parallel_requests
        self.routes: dict[str, dict[str, Handler]] = {}
        for path in codecs.PATHS:
            self.routes[path] = {"POST": _codec_handler(path)}
        for path in _COUNT_TOKENS:
            self.routes[path] = {"POST": count_tokens}
        for path in ("/v1/models", "/models"):
            self.routes[path] = {"GET": own.models}
        self.routes["/model/info"] = {"GET": own.model_info}
        self.routes["/v1/model/info"] = {"GET": own.model_info}
        self.routes["/spend/logs"] = {"GET": own.spend_logs}
        self.routes["/spend/report"] = {"GET": own.spend_report}
        self.routes["/metrics"] = {"GET": own.metrics}
        self.routes["/admin/reload"] = {"POST": own.admin_reload}
        self.routes["/admin/sync"] = {"POST": own.admin_sync}
        self.routes["/health"] = {"GET": own.health}
        self.routes["/health/liveliness"] = {"GET": own.liveliness}
        self.routes["/health/readiness"] = {"GET": own.readiness}
        self.routes["/openapi.json"] = {"GET": own.openapi}
        self.routes.update(dashboard.ROUTES)
        self.routes.update(KeyAdmin(runtime.keys, self._key_spend).routes())

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        request_id = next_request_id()
        if self.in_flight >= self.max_in_flight:
            # overload: answer at once rather than queue without bound
            busy = ServiceUnavailable(f"RIN is at its limit of {self.max_in_flight} requests in flight "
                                      "(general_settings.global_max_parallel_requests); retry shortly.")
            self._refused(scope, request_id, busy)
            await send_error(send, busy, [("x-rin-request-id", request_id), ("retry-after", "1")])
            return
        self.in_flight += 1
        path: str | None = None
        try:
            # routes and auth are decided on the raw path: no percent-decoding, no normalising,
            # so "/v1/chat%2Fcompletions" or "/health/../v1/models" is simply not a route
            path = _raw_path(scope)
            methods = self.routes.get(path)
            if methods is None and path.startswith(RESPONSE_PREFIXES):
                methods = _STORED_RESPONSE
                scope["rin.path"] = path
            if methods is None:
                hint = "" if path.startswith("/v1/") else " The API lives under /v1 (e.g. /v1/chat/completions)."
                raise RouteNotFound(f"There is no route {path}.{hint}")
            handler = methods.get(scope["method"])
            if handler is None:
                raise MethodNotAllowed(f"{path} accepts {', '.join(methods)}, not {scope['method']}.")
            if path not in PUBLIC:
                scope["rin.key"] = self.authenticate(scope, path)
            await handler(self, scope, receive, send, request_id)
        except RinError as err:
            self._refused(scope, request_id, err)
            codec = error_codec(path) if path is not None else None
            if codec is not None:
                await send_codec_error(send, codec, err, [("x-rin-request-id", request_id)])
            else:
                await send_error(send, err, [("x-rin-request-id", request_id)])
        except Exception:
            log.exception("internal error handling request %s", request_id)
            internal = RinError(f"RIN hit an internal error; see the gateway log for request {request_id}.")
            await send_codec_error(send, error_codec(path or "") or CHAT, internal,
                                   [("x-rin-request-id", request_id)])
        finally:
            self.in_flight -= 1

    def _refused(self, scope: dict[str, Any], request_id: str, err: RinError) -> None:
        """The access log's line for a request answered with an error before the pipeline (which
        answers its own errors, each request's line coming from Runtime.finished)."""
        if self.rt.access_log is not None:
            self.rt.access_log.refused(request_id, scope.get("method", ""), _raw_path(scope)[:200], err)

    async def _key_spend(self, key_hash: str) -> Decimal:
        """A key's spend in its current window, including every request already answered."""
        if self.rt.ledger is not None:
            await self.rt.ledger.flush()
        return await self.rt.keys.store.current_spend(key_hash)

    def authenticate(self, scope: dict[str, Any], path: str) -> VirtualKey | None:
        """None for the master key (or an open gateway); the caller's virtual key otherwise."""
        master = self.rt.config.general.master_key
        if not master:
            if path.startswith(ADMIN_PREFIXES):
                raise PermissionDenied(f"{path} is disabled: set general_settings.master_key to use the admin API.")
            return None
        token = _bearer(scope)
        if token is None:
            raise AuthenticationFailed("Missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>').")
        digest = _digest(token)
        if self._master[0] is not master:  # hashed once per config, not once per request
            self._master = (master, _digest(master.get()))
        if hmac.compare_digest(digest, self._master[1]):
            return None
        key = self.rt.keys.authenticate_hash(digest.hex())  # 401 for an unknown, revoked or expired key
        if path not in VIRTUAL_KEY_ROUTES and not path.startswith(RESPONSE_PREFIXES):
            raise PermissionDenied(f"{path} needs the master key; a virtual key may only call the model API.")
        return key

    async def read_body(self, scope: dict[str, Any], receive: Receive, upload_limit: int | None = None) -> bytes:
        """The whole body, within general_settings.max_request_size_mb (an upload's: max_upload_size_mb)."""
        limit = int(self.rt.config.general.max_request_size_mb * 1024 * 1024)
        where = "general_settings.max_request_size_mb"
        if upload_limit is not None:
            limit, where = upload_limit, "general_settings.max_upload_size_mb"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is {declared} bytes; the limit is {limit} bytes ({where}).")
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                async with deadlines.timeout(BODY_TIMEOUT):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"The request body did not arrive within {BODY_TIMEOUT:g} s.") from None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes ({where}).")
                chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def serve(self, codec: Codec, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        """Any model endpoint: the codec decodes, the one pipeline does the rest."""
        general = self.rt.config.general
        raw = await self.read_body(scope, receive, int(general.max_upload_size_mb * 1024 * 1024)
                                   if codec.takes_uploads else None)
        header_name = self.rt.config.general.user_header_name
        user = _header(scope, header_name.lower().encode()) if header_name else None
        if codec.multipart:
            req = codec.decode(raw, rid, user, dict(scope["headers"]))
        else:
            req = codec.decode(raw, rid, user)
        codec.accept_headers(req, scope["headers"])
        req.client_gone = scope.get("rin.client_gone")
        check_mode(codec.modes, scope["path"], self.rt.config, req.model)
        key = scope.get("rin.key")
        if key is not None and (pending := self.rt.admit_key(key, req)) is not None:
            await pending
        if (pending := codec.prepare(self.rt, req)) is not None:
            await pending
        if self.rt.tracing is not None:
            self.rt.tracing.begin(req, scope["headers"], scope["path"])
        await self.pipeline.handle(codec, req, send, receive, _header(scope, b"cache-control"))

    async def reload(self) -> dict[str, Any]:
        from rin.config import ConfigError

        try:
            config = await self.rt.reload()
        except ConfigError as err:
            log.error("reload rejected, still serving the previous config: %s", err)
            raise InvalidRequest(f"The new config was rejected; the previous one keeps serving. {err}",
                                 code="invalid_config") from None
        answer = {"status": "reloaded", "models": len(config.groups),
                  "deployments_enabled": sum(1 for d in config.deployments if d.enabled),
                  "warnings": config.warnings}
        if (workers := restart_workers()) is not None:
            answer["workers_restarting"] = workers
        return answer

    def _on_sighup(self) -> None:
        async def run() -> None:
            try:
                await self.reload()
            except RinError:
                pass  # already logged

        asyncio.ensure_future(run())

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for warning in self.rt.config.warnings:
                        if warning.startswith(("catalog", "openrouter/")) or "catalogue" in warning:
                            log.warning("%s", warning)
                    await self.rt.start()
                    tune_gc()
                    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
                except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.rt.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


_STORED_RESPONSE: dict[str, Handler] = {"GET": get_response, "DELETE": delete_response}


def error_codec(path: str) -> Codec | None:
    """The client protocol whose error shape `path` answers in; None: OpenAI's."""
    return codec_for("/v1/messages" if path in _COUNT_TOKENS else path)


def _codec_handler(path: str) -> Handler:
    """Serves `path` with its codec, imported on the endpoint's first request (chat's is loaded)."""
    codec = codecs.loaded(path)

    async def handler(app: App, scope: dict[str, Any], receive: Receive, send: Send, rid: str) -> None:
        nonlocal codec
        if codec is None:
            codec = codec_for(path)
            assert codec is not None
        await app.serve(codec, scope, receive, send, rid)

    return handler


def create_app() -> App:
    """uvicorn's factory for `rin serve --workers N`: each worker loads the config itself, and logs
    as the parent's flags said (`rin serve` put them in the environment, already checked)."""
    from rin.access_log import AccessLog
    from rin.bootstrap import config_path, load_dotenv_file, log_settings, setup_logging
    from rin.config import load_config

    settings = log_settings()
    setup_logging(settings.level, settings.format)
    load_dotenv_file()
    access_log = AccessLog(settings.access_log_rate) if settings.access_log else None
    # the parent process already reported the config's warnings once
    return App(Runtime(load_config(config_path(None)), access_log=access_log))
