"""FakeUpstream: OpenAI, Anthropic and OpenRouter on 127.0.0.1, with faults chosen by model name.

The only test double the project allows: RIN's tests and bench/ point the gateway's api_base at it.

    with FakeUpstream() as fake:          # aiohttp server on its own loop in a background thread
        fake.openai_base                  # http://127.0.0.1:PORT/v1
        fake.anthropic_base               # http://127.0.0.1:PORT/anthropic
        fake.openrouter_base              # http://127.0.0.1:PORT/openrouter/api/v1
        fake.cohere_base                  # http://127.0.0.1:PORT/cohere   (+ /v2/rerank, /v1/rerank)
        fake.jina_base                    # http://127.0.0.1:PORT/jina     (+ /v1/rerank)
        fake.azure_base                   # http://127.0.0.1:PORT/azure    (+ /openai/deployments/...)
        fake.cloudflare_base("acct")      # http://127.0.0.1:PORT/cloudflare/client/v4/accounts/acct/ai/v1
        fake.gemini_base                  # http://127.0.0.1:PORT/gemini/v1beta
        fake.vertex_base                  # http://127.0.0.1:PORT/vertex   (as https://REGION-aiplatform.googleapis.com)
        fake.google.service_account(fake.google_token_uri)   # a service-account key file for the token endpoint
        fake.bedrock_base                 # http://127.0.0.1:PORT/bedrock  (as https://bedrock-runtime.REGION.amazonaws.com)
        fake.count("gpt-4o-fail-429")     # requests received for that model

Routes: OpenAI /v1/chat/completions, /v1/responses, /v1/completions, /v1/embeddings, /v1/models,
/v1/audio/transcriptions, /v1/audio/translations, /v1/audio/speech, /v1/images/generations,
/v1/images/edits (URL images served at /_fake/images/<id>.png) and /v1/rerank (a local TEI/vLLM-style
reranker); Anthropic /anthropic/v1/messages and /anthropic/v1/messages/count_tokens; OpenRouter
/openrouter/api/v1/chat/completions (images with "modalities") and /models; Cohere /cohere/v2/rerank
and /cohere/v1/rerank; Jina /jina/v1/rerank; Azure OpenAI
/azure/openai/deployments/{name}/chat/completions and /embeddings (?api-version=, `api-key`; azure_fmt.py);
Cloudflare /cloudflare/client/v4/accounts/{id}/ai/v1/chat/completions and /embeddings; Gemini
/gemini/v1beta/models/{model}:generateContent and :streamGenerateContent (`x-goog-api-key`; the
recorded request's `model` is the URL's; gemini_fmt.py); Vertex AI
/vertex/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent, :streamGenerateContent,
:predict and .../publishers/anthropic/models/{model}:rawPredict, :streamRawPredict (a Bearer token from
Google's fake token endpoint POST /google/token; vertex_fmt.py). Every generating route takes the same faults.
Bedrock /bedrock/model/{id}/converse, /converse-stream (AWS event stream) and /invoke (Titan and Cohere
embeddings), every request's SigV4 signature checked (the recorded `model` is the URL's; bedrock_fmt.py),
and STS AssumeRole at /sts (the endpoint for AWS_ENDPOINT_URL_STS) handing out session credentials.
Multipart requests are recorded with `json` = the form fields (`name[]` fields as lists under
`name`) plus "file_size" (bytes of all files), "file_name" (the first file's) and "files".

Standalone (bench/): `python -m tests.fakes.upstream --port 9100 [--no-log]`. The fault vocabulary
is in faults.py; the wire formats in openai_fmt.py, responses_fmt.py, completions_fmt.py,
openrouter_fmt.py, anthropic_fmt.py, media_fmt.py and rerank_fmt.py.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from . import media_fmt as media
from .anthropic_fmt import AnthropicFormat
from .azure_fmt import AzureFormat
from .bedrock_fmt import BedrockFormat, assume_role_xml, new_session_key
from .cloudflare_fmt import CloudflareFormat
from .completions_fmt import CompletionsFormat
from .gemini_fmt import GeminiFormat
from .vertex_fmt import GoogleOAuth, VertexClaudeFormat, VertexGeminiFormat
from .faults import STATUS_KINDS, Fault, parse_fault
from .openai_fmt import OpenAIFormat
from .openrouter_fmt import OpenRouterFormat
from .rerank_fmt import CohereFormat, JinaFormat, LocalRerankFormat
from .responses_fmt import ResponsesFormat
from .answer import Answer
from .wire import GARBAGE, JSON, Reply

Format = OpenAIFormat | AnthropicFormat | GeminiFormat  # OpenRouterFormat is an OpenAIFormat
RerankFormat = CohereFormat | JinaFormat  # LocalRerankFormat is a JinaFormat

_SERVER_ERROR = Fault("status", status=500)


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it. `time` is `time.monotonic()` at arrival."""

    path: str
    headers: dict[str, str]  # lowercased names
    json: Any  # parsed body, or None; for multipart: the form fields + file_size, file_name, files
    model: str | None
    time: float


def _respond(reply: Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _drop(request: web.BaseRequest, reset: bool) -> None:
    """Close the client's connection: with a TCP RST when `reset`, else an orderly FIN."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (AttributeError, OSError):
            pass
        transport.abort()
    else:
        transport.close()


class FakeUpstream:
    """The fake providers' HTTP server. Thread-safe to read `requests` and call the methods below."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        catalog_path: str | Path | None = None,
        record: bool = True,
    ) -> None:
        self.host, self.port, self.record = host, port, record
        self.requests: list[RecordedRequest] = []
        self.total = 0  # requests received, counted even when not recording
        self._overrides: dict[str, str] = {}
        self._flaky: dict[str, int] = {}
        self._openai, self._anthropic = OpenAIFormat(), AnthropicFormat()
        self._responses, self._completions = ResponsesFormat(), CompletionsFormat()
        self._openrouter = OpenRouterFormat(catalog_path)
        self._cohere, self._cohere_v1 = CohereFormat("2"), CohereFormat("1")
        self._jina, self._local_rerank = JinaFormat(), LocalRerankFormat()
        self._azure, self._cloudflare = AzureFormat(), CloudflareFormat()
        self._gemini = GeminiFormat()
        self._bedrock = BedrockFormat()
        #: seconds the session credentials STS hands out are valid for
        self.sts_duration = 3600
        #: Google's token endpoint: service accounts, tokens issued, failure switches (vertex_fmt.py)
        self.google = GoogleOAuth()
        self._vertex_gemini, self._vertex_claude = VertexGeminiFormat(self.google), VertexClaudeFormat(self.google)
        self._images: set[str] = set()  # ids of the URL images handed out, served by GET /_fake/images/
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base(self) -> str:
        return self.base_url + "/anthropic"

    @property
    def openrouter_base(self) -> str:
        return self.base_url + "/openrouter/api/v1"

    @property
    def cohere_base(self) -> str:
        """Cohere's API root (as https://api.cohere.com): POST {cohere_base}/v2/rerank, /v1/rerank."""
        return self.base_url + "/cohere"

    @property
    def jina_base(self) -> str:
        """Jina's API root (as https://api.jina.ai): POST {jina_base}/v1/rerank."""
        return self.base_url + "/jina"

    @property
    def azure_base(self) -> str:
        """An Azure OpenAI resource's endpoint (as https://<resource>.openai.azure.com)."""
        return self.base_url + "/azure"

    def cloudflare_base(self, account: str = "fake-account") -> str:
        """Workers AI's OpenAI-compatible root for `account` (as https://api.cloudflare.com/...)."""
        return f"{self.base_url}/cloudflare/client/v4/accounts/{account}/ai/v1"

    @property
    def gemini_base(self) -> str:
        """The Gemini API root with its version (as https://generativelanguage.googleapis.com/v1beta)."""
        return self.base_url + "/gemini/v1beta"

    @property
    def vertex_base(self) -> str:
        """Vertex AI's URL root (as https://us-central1-aiplatform.googleapis.com): the api_base."""
        return self.base_url + "/vertex"

    @property
    def google_token_uri(self) -> str:
        """Google's OAuth token endpoint (as https://oauth2.googleapis.com/token): a key file's token_uri."""
        return self.base_url + "/google/token"

    @property
    def bedrock_base(self) -> str:
        """Bedrock's runtime endpoint (as https://bedrock-runtime.us-east-1.amazonaws.com): the api_base."""
        return self.base_url + "/bedrock"

    @property
    def sts_endpoint(self) -> str:
        """STS (as https://sts.amazonaws.com), for AWS_ENDPOINT_URL_STS."""
        return self.base_url + "/sts"

    # control

    def count(self, model: str | None = None, path_contains: str | None = None) -> int:
        """Recorded requests, optionally only those for `model` and/or whose path contains a string."""
        return sum(
            1
            for r in list(self.requests)
            if (model is None or r.model == model) and (path_contains is None or path_contains in r.path)
        )

    def reset(self) -> None:
        """Forget recorded requests and `flaky` counters (set_fault overrides stay)."""
        self.requests.clear()
        self._flaky.clear()
        self.total = 0

    def set_fault(self, model: str, fault: str | None) -> None:
        """Give requests for exactly `model` this fault (e.g. "fail-503", "ok" for none); None undoes it."""
        if fault is None:
            self._overrides.pop(model, None)
        else:
            self._overrides[model] = fault

    # lifecycle

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            return self
        sock = socket.create_server((self.host, self.port), backlog=4096)
        sock.setblocking(False)
        self._sock, self.port = sock, sock.getsockname()[1]
        self._loop = _new_loop()
        started, failure = threading.Event(), []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._open(sock))  # type: ignore[union-attr]
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()  # type: ignore[union-attr]

        self._thread = threading.Thread(target=run, name=f"fake-upstream:{self.port}", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving; hung (`silent`, `stall-mid`) connections are dropped, so this is prompt."""
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._sock.close()  # type: ignore[union-attr]
        self._thread = self._loop = self._sock = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _open(self, sock: socket.socket) -> None:
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(
            self._app(), access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _close(self) -> None:
        self._closing.set()  # type: ignore[union-attr]
        await self._runner.cleanup()  # type: ignore[union-attr]

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        oa, an, orr = self._openai, self._anthropic, self._openrouter
        add = app.router.add_route
        add("POST", "/v1/chat/completions", partial(self._chat, fmt=oa))
        add("POST", "/v1/responses", partial(self._chat, fmt=self._responses))
        add("POST", "/v1/completions", partial(self._chat, fmt=self._completions))
        add("POST", "/v1/embeddings", partial(self._embeddings, fmt=oa))
        add("GET", "/v1/models", partial(self._models, fmt=oa))
        add("POST", "/v1/audio/transcriptions", partial(self._audio_text, task="transcribe"))
        add("POST", "/v1/audio/translations", partial(self._audio_text, task="translate"))
        add("POST", "/v1/audio/speech", self._speech)
        add("POST", "/v1/images/generations", self._image_generations)
        add("POST", "/v1/images/edits", self._image_edits)
        add("POST", "/v1/rerank", partial(self._rerank, fmt=self._local_rerank))
        add("POST", "/cohere/v2/rerank", partial(self._rerank, fmt=self._cohere))
        add("POST", "/cohere/v1/rerank", partial(self._rerank, fmt=self._cohere_v1))
        add("POST", "/jina/v1/rerank", partial(self._rerank, fmt=self._jina))
        add("GET", "/_fake/images/{image_id}.png", self._image_file)
        add("POST", "/anthropic/v1/messages", partial(self._chat, fmt=an))
        add("POST", "/anthropic/v1/messages/count_tokens", partial(self._count_tokens, fmt=an))
        add("POST", "/openrouter/api/v1/chat/completions", partial(self._chat, fmt=orr))
        add("GET", "/openrouter/api/v1/models", partial(self._models, fmt=orr))
        azure = "/azure/openai/deployments/{deployment}"
        add("POST", azure + "/chat/completions", partial(self._azure_call, handler=self._chat))
        add("POST", azure + "/embeddings", partial(self._azure_call, handler=self._embeddings))
        cloudflare = "/cloudflare/client/v4/accounts/{account}/ai/v1"
        add("POST", cloudflare + "/chat/completions", partial(self._chat, fmt=self._cloudflare))
        add("POST", cloudflare + "/embeddings", partial(self._embeddings, fmt=self._cloudflare))
        add("POST", "/gemini/v1beta/models/{target}", self._gemini_call)
        add("POST", "/bedrock/model/{target:.+}", self._bedrock_call)
        add("POST", "/sts", self._sts)
        add("POST", "/sts/", self._sts)
        add("POST", "/vertex/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}",
            self._vertex_call)
        add("POST", "/google/token", self._google_token)
        add("POST", "/hooks/alert", self._webhook)
        add("GET", "/_fake/stats", self._stats)
        add("GET", "/_fake/requests", self._dump)
        add("POST", "/_fake/fault", self._set_fault)
        add("POST", "/_fake/reset", self._reset)
        add("*", "/{tail:.*}", self._not_found)
        return app

    async def _azure_call(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Azure's checks before OpenAI's handling: api-version, and the URL's deployment = body model."""
        fmt = self._azure
        early = fmt.version_error(request.query.get("api-version"))
        if early is None:
            try:  # read() is cached: the handler reads the same bytes again
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                body = None
            model = body.get("model") if isinstance(body, dict) else None
            early = fmt.wrong_deployment(request.match_info["deployment"], model)
        if early is not None:
            await self._receive(request)
            return _respond(early)
        return await handler(request, fmt=fmt)

    async def _gemini_call(self, request: web.Request) -> web.StreamResponse:
        """`models/{model}:{method}`: the model and streaming come from the URL, not the body."""
        model, _, method = request.match_info["target"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return await self._not_found(request)
        return await self._generate(request, self._gemini, model, method)

    async def _generate(
        self, request: web.Request, fmt: GeminiFormat, model: str, method: str
    ) -> web.StreamResponse:
        """generateContent / streamGenerateContent, for the Gemini API and Vertex AI alike."""
        stream = method == "streamGenerateContent"
        if stream and request.query.get("alt") != "sse":  # without alt=sse Google streams a JSON array
            await self._receive(request)
            return _respond(fmt.bad_request("this fake streams only with ?alt=sse"))
        fault = self._fault(model)
        if stream and fault is not None and fault.kind == "content-policy":
            # a blocked prompt on a stream is one SSE event, as the JSON answer would be
            await self._receive(request, {"model": model, "stream": True})
            if (early := fmt.auth_error(request.headers)) is not None:
                return _respond(early)
            headers = fmt.headers(fmt.stream_content_type)
            return web.Response(status=200, body=b"data: " + fmt.blocked(model) + b"\n\n", headers=headers)
        return await self._chat(request, fmt=fmt, patch={"model": model, "stream": stream})

    async def _vertex_call(self, request: web.Request) -> web.StreamResponse:
        """Vertex AI's `publishers/{google|anthropic}/models/{model}:{method}`."""
        model, _, method = request.match_info["target"].rpartition(":")
        publisher = request.match_info["publisher"]
        if publisher == "google" and method in ("generateContent", "streamGenerateContent") and model:
            return await self._generate(request, self._vertex_gemini, model, method)
        if publisher == "google" and method == "predict" and model:
            return await self._vertex_predict(request, model)
        if publisher == "anthropic" and method in ("rawPredict", "streamRawPredict") and model:
            patch = {"model": model, "stream": method == "streamRawPredict"}
            return await self._chat(request, fmt=self._vertex_claude, patch=patch)
        return await self._not_found(request)

    async def _vertex_predict(self, request: web.Request, model: str) -> web.StreamResponse:
        """Vertex AI's text embeddings: `instances` in, `predictions` out."""
        fmt = self._vertex_gemini
        body, _ = await self._receive(request, {"model": model})
        early = fmt.auth_error(request.headers) or fmt.validate_predict(body)
        if early is not None:
            return _respond(early)
        assert body is not None  # validated above
        return await self._media_reply(request, fmt, model, lambda: fmt.predict(body))  # type: ignore[arg-type]

    async def _google_token(self, request: web.Request) -> web.Response:
        """Google's OAuth token endpoint: a service account's signed JWT for an access token."""
        await self._receive(request)
        return _respond(self.google.exchange(await request.read()))

    async def _bedrock_call(self, request: web.Request) -> web.StreamResponse:
        """`model/{id}/{converse|converse-stream|invoke}`, after the request's SigV4 signature checks out."""
        model, _, action = request.match_info["target"].rpartition("/")
        if action not in ("converse", "converse-stream", "invoke") or not model:
            return await self._not_found(request)
        fmt, stream = self._bedrock, action == "converse-stream"
        patch = {"model": model, "stream": stream}
        denied = fmt.verify(request.method, f"http://{request.host}{request.raw_path}", request.headers,
                            await request.read())
        if denied is not None:
            await self._receive(request, patch)
            return _respond(denied)
        if action == "invoke":
            return await self._embeddings(request, fmt=fmt, patch=patch)  # type: ignore[arg-type]
        fault = self._fault(model)
        if stream and fault is not None and fault.kind == "content-policy":
            await self._receive(request, patch)
            return web.Response(status=200, body=fmt.blocked(model, stream=True),
                                headers=fmt.headers(fmt.stream_content_type))
        return await self._chat(request, fmt=fmt, patch=patch)  # type: ignore[arg-type]

    async def _sts(self, request: web.Request) -> web.Response:
        """STS AssumeRole (query protocol): fresh session credentials for a request signed with a known key."""
        raw = await request.read()
        denied = self._bedrock.verify(request.method, f"http://{request.host}{request.raw_path}", request.headers,
                                      raw, service="sts")
        form = dict(await request.post())
        await self._receive(request, {"model": "sts:" + str(form.get("Action"))})
        if denied is not None:
            return _respond(denied)
        body = assume_role_xml(new_session_key(), int(time.time()) + self.sts_duration)
        return web.Response(body=body, content_type="text/xml")

    async def _webhook(self, request: web.Request) -> web.Response:
        """A generic alert receiver (Slack-style incoming webhook): records the post, answers 200."""
        await self._receive(request)
        return web.Response(text="ok")

    # request handling

    async def _receive(self, request: web.Request, patch: dict | None = None) -> tuple[dict | None, str | None]:
        """The JSON body and its model, recorded. `patch` (what a URL says, e.g. Gemini's model and
        method) is merged into the body returned, not into the one recorded; its model is recorded."""
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = None
        recorded = body
        if patch is not None and body is not None:
            body = {**body, **patch}
        model = (patch or {}).get("model") or (body.get("model") if body else None)
        model = model if isinstance(model, str) else None
        self.total += 1
        if self.record:
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.requests.append(RecordedRequest(request.path, headers, recorded, model, time.monotonic()))
        return body, model

    def _fault(self, model: str | None) -> Fault | None:
        if model is None:
            return None
        override = self._overrides.get(model)
        return parse_fault(override if override is not None else model)

    async def _wait_closing(self, timeout: float | None = None) -> bool:
        """Sleep until stop() (True) or for `timeout` seconds (False), without blocking the loop."""
        try:
            await asyncio.wait_for(self._closing.wait(), timeout)  # type: ignore[union-attr]
        except TimeoutError:
            return False
        return True

    async def _before_headers(
        self, request: web.Request, fmt: Format, model: str, fault: Fault | None
    ) -> web.StreamResponse | None:
        """Apply the faults that act before any header is sent; a response means "done"."""
        if fault is None:
            return None
        if fault.kind == "slow":
            if await self._wait_closing(fault.n / 1000):
                _drop(request, reset=True)
                return web.Response()
        elif fault.kind == "flaky":
            seen = self._flaky[model] = self._flaky.get(model, 0) + 1
            if seen <= fault.n:
                return _respond(fmt.error(_SERVER_ERROR, model))
        elif fault.kind in STATUS_KINDS:
            return _respond(fmt.error(fault, model))
        elif fault.kind == "reset":
            _drop(request, reset=True)
            return web.Response()  # never written: the transport is gone
        elif fault.kind == "silent":
            await self._wait_closing()
            _drop(request, reset=True)
            return web.Response()
        return None

    async def _chat(self, request: web.Request, fmt: Format, patch: dict | None = None) -> web.StreamResponse:
        body, model = await self._receive(request, patch)
        early = fmt.auth_error(request.headers) or fmt.validate_chat(request.headers, body)
        if early is not None:
            return _respond(early)
        assert body is not None and model is not None  # validated above
        fault = self._fault(model)
        done = await self._before_headers(request, fmt, model, fault)
        if done is not None:
            return done
        try:
            answer = fmt.decide(body)
            completion = None if body.get("stream") else fmt.completion(answer, body)
        except Exception:  # noqa: BLE001 - malformed messages: the real APIs answer 400, never crash
            return _respond(fmt.bad_request("the request's messages could not be read"))
        late = _late(fault)
        if body.get("stream"):
            return await self._stream(request, fmt, answer, body, late)
        if late == "error-in-stream":
            return _respond(fmt.error_in_body(model))
        return await self._send(request, completion, late)

    async def _stream(
        self, request: web.Request, fmt: Format, answer: Answer, body: dict, late: str | None
    ) -> web.StreamResponse:
        headers = fmt.headers(fmt.stream_content_type)
        headers["Cache-Control"] = "no-cache"
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(request)
        if late == "garbage":
            await resp.write(fmt.garbage_stream())
        elif late is None:
            await resp.write(b"".join(fmt.stream(answer, body).frames))
        else:
            plan = fmt.stream(answer, body)
            for frame in plan.frames[: plan.cut]:
                await resp.write(frame)
            if late == "error-in-stream":
                await resp.write(plan.error if plan.error is not None else fmt.stream_error(answer))
            elif late == "cut-mid":
                _drop(request, reset=False)
                return resp
            else:  # stall-mid
                await self._wait_closing()
                _drop(request, reset=True)
                return resp
        await resp.write_eof()
        return resp

    async def _send(self, request: web.Request, reply: Reply, late: str | None) -> web.StreamResponse:
        """A JSON answer, or, for the mid-body faults, half of it."""
        if late == "garbage":
            return web.Response(status=200, body=GARBAGE, headers={**reply.headers, "Content-Type": JSON})
        if late not in ("cut-mid", "stall-mid"):
            return _respond(reply)
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_length = len(reply.body)
        await resp.prepare(request)
        await resp.write(reply.body[: len(reply.body) // 2])
        if late == "stall-mid":
            await self._wait_closing()
        _drop(request, reset=late == "stall-mid")
        return resp

    async def _embeddings(
        self, request: web.Request, fmt: OpenAIFormat, patch: dict | None = None
    ) -> web.StreamResponse:
        body, model = await self._receive(request, patch)
        early = fmt.auth_error(request.headers) or fmt.validate(request.headers, body)
        if early is not None:
            return _respond(early)
        assert body is not None and model is not None  # validated above
        fault = self._fault(model)
        done = await self._before_headers(request, fmt, model, fault)
        if done is not None:
            return done
        late = _late(fault)
        if late == "error-in-stream":
            return _respond(fmt.error_in_body(model))
        return await self._send(request, fmt.embeddings(body), late)

    async def _count_tokens(self, request: web.Request, fmt: AnthropicFormat) -> web.StreamResponse:
        """Anthropic's token counting: the messages endpoint's checks and faults, `{"input_tokens": N}`."""
        body, model = await self._receive(request)
        early = fmt.auth_error(request.headers) or fmt.validate_count(request.headers, body)
        if early is not None:
            return _respond(early)
        assert body is not None and model is not None  # validated above
        fault = self._fault(model)
        done = await self._before_headers(request, fmt, model, fault)
        if done is not None:
            return done
        late = _late(fault)
        if late == "error-in-stream":
            return _respond(fmt.error_in_body(model))
        return await self._send(request, fmt.count_tokens(body), late)

    async def _models(self, request: web.Request, fmt: OpenAIFormat) -> web.StreamResponse:
        """Model lists; `set_fault("models", ...)` makes them fail. OpenRouter's needs no key, as the real one."""
        await self._receive(request)
        if fmt is self._openai and (early := fmt.auth_error(request.headers)) is not None:
            return _respond(early)
        fault = parse_fault(self._overrides.get("models"))
        done = await self._before_headers(request, fmt, "models", fault)
        return done if done is not None else await self._send(request, fmt.models(), _late(fault))

    # media: OpenAI audio and images

    async def _receive_form(self, request: web.Request) -> tuple[dict, list[dict]] | None:
        """A multipart/form-data body as (fields, files), recorded; None (also recorded) when not multipart.

        A field sent several times, or as `name[]`, becomes a list under `name`. Each file is
        {"field", "name", "content_type", "data"}.
        """
        fields: dict[str, Any] = {}
        files: list[dict] = []
        is_form = request.content_type == "multipart/form-data"
        if is_form:
            try:
                reader = await request.multipart()
                while (part := await reader.next()) is not None:
                    if not isinstance(part, BodyPartReader) or part.name is None:
                        continue
                    data = await part.read(decode=True)
                    name = part.name
                    if part.filename is not None:
                        ctype = part.headers.get("Content-Type")
                        files.append({"field": name.removesuffix("[]"), "name": part.filename, "content_type": ctype,
                                      "data": bytes(data)})
                        continue
                    value = data.decode("utf-8", "replace")
                    key = name.removesuffix("[]")
                    if key in fields:
                        prev = fields[key]
                        fields[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
                    else:
                        fields[key] = [value] if name.endswith("[]") else value
            except (ValueError, AssertionError):
                is_form = False
        else:
            await request.read()
        model = fields.get("model") if isinstance(fields.get("model"), str) else None
        self.total += 1
        if self.record:
            headers = {k.lower(): v for k, v in request.headers.items()}
            record = None
            if is_form:
                record = {**fields, "file_size": sum(len(f["data"]) for f in files),
                          "file_name": files[0]["name"] if files else None,
                          "files": [{k: v for k, v in f.items() if k != "data"} | {"size": len(f["data"])} for f in files]}
            self.requests.append(RecordedRequest(request.path, headers, record, model, time.monotonic()))
        return (fields, files) if is_form else None

    async def _media_reply(
        self, request: web.Request, fmt: OpenAIFormat | RerankFormat, model: str, make: Any
    ) -> web.StreamResponse:
        """Faults by model name around a JSON/text answer made by `make()`."""
        fault = self._fault(model)
        done = await self._before_headers(request, fmt, model, fault)  # type: ignore[arg-type]
        if done is not None:
            return done
        late = _late(fault)
        if late == "error-in-stream":
            return _respond(fmt.error_in_body(model))
        return await self._send(request, make(), late)

    async def _audio_text(self, request: web.Request, task: str) -> web.StreamResponse:
        """POST /v1/audio/transcriptions and /v1/audio/translations (multipart)."""
        fmt = self._openai
        form = await self._receive_form(request)
        if (early := fmt.auth_error(request.headers)) is not None:
            return _respond(early)
        if form is None:
            return _respond(media.not_multipart(request.headers.get("Content-Type", "")))
        fields, files = form
        error, data, kind = media.check_audio(fields, files)
        if error is not None:
            return _respond(error)
        return await self._media_reply(
            request, fmt, fields["model"], lambda: media.transcription(task, fields, data, kind)
        )

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/audio/speech: audio bytes in 4 KB chunked writes; faults cut or stall the body."""
        fmt = self._openai
        body, model = await self._receive(request)
        early = fmt.auth_error(request.headers) or fmt.validate(request.headers, body)
        early = early or media.check_speech(body)  # type: ignore[arg-type]
        if early is not None:
            return _respond(early)
        assert body is not None and model is not None  # validated above
        fault = self._fault(model)
        done = await self._before_headers(request, fmt, model, fault)
        if done is not None:
            return done
        late = _late(fault)
        audio, content_type = media.speech(body)
        if late == "error-in-stream":
            return _respond(fmt.error_in_body(model))
        if late == "garbage":  # a proxy's error page where audio was expected
            return web.Response(status=200, body=GARBAGE, headers=fmt.headers(content_type))
        resp = web.StreamResponse(status=200, headers=fmt.headers(content_type))
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunks = [audio[i : i + media.SPEECH_CHUNK] for i in range(0, len(audio), media.SPEECH_CHUNK)]
        if late in ("cut-mid", "stall-mid"):
            for chunk in chunks[: max(1, len(chunks) // 2)]:
                await resp.write(chunk)
            if late == "stall-mid":
                await self._wait_closing()
            _drop(request, reset=late == "stall-mid")
            return resp
        for chunk in chunks:
            await resp.write(chunk)
            await asyncio.sleep(0)  # one write per chunk on the wire
        await resp.write_eof()
        return resp

    async def _image_generations(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/images/generations (JSON). The model defaults to dall-e-2, as OpenAI's."""
        fmt = self._openai
        body, model = await self._receive(request)
        early = fmt.auth_error(request.headers) or (fmt.validate(request.headers, None) if body is None else None)
        early = early or media.check_images(body)  # type: ignore[arg-type]
        if early is not None:
            return _respond(early)
        assert body is not None
        return await self._media_reply(
            request, fmt, model or "dall-e-2", lambda: media.images(body, self.base_url, self._images)
        )

    async def _image_edits(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/images/edits (multipart: `image` or several `image[]`, optional `mask`)."""
        fmt = self._openai
        form = await self._receive_form(request)
        if (early := fmt.auth_error(request.headers)) is not None:
            return _respond(early)
        if form is None:
            return _respond(media.not_multipart(request.headers.get("Content-Type", "")))
        fields, files = form
        given = [f for f in files if f["field"] == "image"]
        if not given:
            return _respond(media.missing("image"))
        early = media.check_images(fields)
        if early is not None:
            return _respond(early)
        model = fields.get("model") if isinstance(fields.get("model"), str) and fields["model"] else "dall-e-2"
        return await self._media_reply(
            request, fmt, model, lambda: media.images(fields, self.base_url, self._images, input_images=len(given))
        )

    async def _image_file(self, request: web.Request) -> web.Response:
        """GET /_fake/images/<id>.png: the picture behind a URL the images routes handed out."""
        if request.match_info["image_id"] not in self._images:
            return web.Response(status=404, text="The specified blob does not exist.")
        return web.Response(body=media.PNG, content_type="image/png")

    # rerank: Cohere, Jina, and a local reranker on the OpenAI base

    async def _rerank(self, request: web.Request, fmt: RerankFormat) -> web.StreamResponse:
        body, model = await self._receive(request)
        early = fmt.auth_error(request.headers) or fmt.validate(body)
        if early is not None:
            return _respond(early)
        assert body is not None  # validated above
        name = model or getattr(fmt, "default_model", "rerank")
        return await self._media_reply(request, fmt, name, lambda: fmt.rerank(body))

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._receive(request)
        path = request.path
        fmt: Format | RerankFormat = self._openai
        if path.startswith("/anthropic"):
            fmt = self._anthropic
        elif path.startswith("/openrouter"):
            fmt = self._openrouter
        elif path.startswith("/cohere"):
            fmt = self._cohere
        elif path.startswith("/jina"):
            fmt = self._jina
        elif path.startswith("/azure"):
            fmt = self._azure
        elif path.startswith("/cloudflare"):
            fmt = self._cloudflare
        elif path.startswith("/gemini"):
            fmt = self._gemini
        elif path.startswith("/bedrock"):
            fmt = self._bedrock  # type: ignore[assignment]
        elif path.startswith("/vertex"):
            fmt = self._vertex_gemini
        return _respond(fmt.not_found(request.method, path))

    # control endpoints, for a standalone fake driven from another process

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.total, "recorded": len(self.requests)})

    async def _dump(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps([asdict(r) for r in list(self.requests)]), content_type=JSON)

    async def _set_fault(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.set_fault(body["model"], body.get("fault"))
        return web.json_response({"ok": True})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def _late(fault: Fault | None) -> str | None:
    return fault.kind if fault is not None and fault.kind not in ("slow", "flaky") else None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.upstream", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--catalog", help="JSON file served as OpenRouter's GET /models")
    parser.add_argument("--no-log", action="store_true", help="do not record requests (for benchmarks)")
    args = parser.parse_args(argv)
    fake = FakeUpstream(args.host, args.port, args.catalog, record=not args.no_log).start()
    print(fake.base_url, flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()


if __name__ == "__main__":
    main()
