"""POST /v1/images/generations and /v1/images/edits: OpenAI's image API to any provider that
serves it; billed per image (by size and quality where the price table says so) or per token
(gpt-image-1 reports usage)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from rin.codecs.base import parse_json_body
from rin.codecs.media import MediaCodec, _json, _model
from rin.codecs.multipart import parse_form
from rin.errors import InvalidRequest, UpstreamProtocolError
from rin.providers import PROVIDERS
from rin.types import ChatRequest, ChatResult, Deployment, Usage

#: sizes each well-known model offers (others: whatever the provider accepts)
SIZES = {
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
}


def _check(body: dict[str, Any], dep: Deployment) -> None:
    name = dep.provider_model.rsplit("/", 1)[-1]
    offered = SIZES.get(name)
    size = body.get("size")
    if offered and size is not None and size not in offered:
        raise InvalidRequest(f"'size' {size!r} is not offered by {name}: use one of {', '.join(offered)}.",
                             param="size")
    n = body.get("n")
    if name == "dall-e-3" and n not in (None, 1):
        raise InvalidRequest("dall-e-3 makes one image per request: send 'n': 1.", param="n")


class ImagesCodec(MediaCodec):
    endpoint = "images"
    modes = frozenset({"image_generation"})

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        body = parse_json_body(raw)
        model = _model(body.get("model") if isinstance(body.get("model"), str) else None)
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            raise InvalidRequest("'prompt' is required: describe the image.", param="prompt")
        _check_n(body.get("n"))
        user = body.get("user") if isinstance(body.get("user"), str) else None
        return ChatRequest(body, model, request_id=request_id, body_size=len(raw), endpoint=self.endpoint,
                           native=body, user=user_header or user, expected=_expected(body))

    def build(self, req: ChatRequest, dep: Deployment) -> Any:
        _check(req.body, dep)
        if dep.provider == "openrouter" and self.endpoint == "images":
            # OpenRouter draws through chat: the prompt as a message, asking for image output
            chat = ChatRequest({"model": req.model, "messages": [{"role": "user", "content": req.body["prompt"]}],
                                "modalities": ["image", "text"]}, req.model, request_id=req.request_id)
            return PROVIDERS[dep.provider].adapter.build_chat(chat, dep)
        return super().build(req, dep)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        if dep.provider == "openrouter":
            return _from_chat(body, req, dep)
        data = _json(body, "images")
        images = data.get("data")
        if not isinstance(images, list):
            raise UpstreamProtocolError("the provider answered images without 'data'")
        usage = Usage(images=len(images), image_variant=variant(req.body))
        reported = data.get("usage")
        if isinstance(reported, dict):  # gpt-image-1 bills tokens
            usage.prompt_tokens = int(reported.get("input_tokens") or 0)
            usage.completion_tokens = int(reported.get("output_tokens") or 0)
            usage.total_tokens = int(reported.get("total_tokens") or usage.prompt_tokens + usage.completion_tokens)
        return ChatResult(body, usage)


class ImageEditsCodec(ImagesCodec):
    endpoint = "image_edits"
    multipart = True
    takes_uploads = True

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        form = parse_form(raw, (headers or {}).get(b"content-type", b"").decode("latin-1"))
        model = _model(form.value("model"))
        if form.file("image", "image[]") is None:
            raise InvalidRequest("'image' is required: the image to edit, as a form file.", param="image")
        prompt = form.value("prompt")
        if not prompt:
            raise InvalidRequest("'prompt' is required: describe the edit.", param="prompt")
        n = form.value("n")
        body: dict[str, Any] = {"model": model, "prompt": prompt, "size": form.value("size"),
                                "n": int(n) if n and n.isdigit() else None}
        _check_n(body["n"])
        body["quality"] = form.value("quality")
        return ChatRequest(body, model, request_id=request_id, body_size=len(raw), endpoint=self.endpoint,
                           user=user_header, context=form, expected=_expected(body))


def _check_n(n: Any) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10):
        raise InvalidRequest(f"'n' is {n!r}; send an integer from 1 to 10.", param="n")


def _from_chat(body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
    """OpenRouter's chat answer (message.images: data URLs) as an images response."""
    result = PROVIDERS[dep.provider].adapter.parse_chat(body, req, dep)
    chat = result.data if result.data is not None else orjson.loads(result.body)
    message = ((chat.get("choices") or [{}])[0]).get("message") or {}
    urls = [(img.get("image_url") or {}).get("url") for img in message.get("images") or [] if isinstance(img, dict)]
    urls = [u for u in urls if isinstance(u, str) and u]
    if not urls:
        raise UpstreamProtocolError(f"{dep.label} answered without an image (is it an image model?)")
    as_url = req.body.get("response_format") == "url"
    data = [{"url": u} if as_url else {"b64_json": u.partition("base64,")[2] or u} for u in urls]
    usage = result.usage or Usage()
    usage.images = len(data)
    usage.image_variant = variant(req.body)
    return ChatResult(orjson.dumps({"created": chat.get("created") or int(time.time()), "data": data}), usage)


def variant(body: dict[str, Any]) -> str:
    """The price table's key for an image: "quality/size", with the API's defaults filled in."""
    quality = body.get("quality") or "standard"
    size = body.get("size") or "1024x1024"
    return f"{quality}/{size}"


def _expected(body: dict[str, Any]) -> Usage:
    """The budgets' worst case: n images (gpt-image-1 bills tokens: its largest, about 6,000 a picture)."""
    n = body.get("n") or 1
    return Usage(prompt_tokens=len(body.get("prompt") or "") // 4 + 100, completion_tokens=6_300 * n,
                 images=n, image_variant=variant(body))
