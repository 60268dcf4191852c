"""OpenAI's media endpoints and rerank, as codecs over the one pipeline: audio transcription and
translation (multipart uploads), speech (audio streamed back), image generation and edits, and
rerank (the Cohere / Jina shape Open WebUI and LiteLLM use).

Providers serve these in OpenAI's own wire format (OpenAI, Groq, Azure, vLLM, TEI, ...), so the
client's body goes upstream with only the model swapped; the codec reads what to bill from the
answer: seconds of audio, characters spoken, images made, search units.
"""

from __future__ import annotations

import hashlib
import io
import wave
from typing import Any

import orjson

from rin.codecs.base import Codec, parse_json_body
from rin.codecs.multipart import Form, parse_form
from rin.errors import InvalidRequest, UpstreamProtocolError
from rin.providers import PROVIDERS
from rin.providers.base import json_object
from rin.types import ChatRequest, ChatResult, Deployment, UpstreamRequest, Usage

#: the audio formats OpenAI accepts, by their first bytes
_AUDIO_MAGIC = ((b"RIFF", "wav"), (b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"\xff\xf3", "mp3"), (b"\xff\xf2", "mp3"),
                (b"OggS", "ogg"), (b"fLaC", "flac"), (b"\x1aE\xdf\xa3", "webm"))

#: OpenAI's built-in voices (its speech models; other servers have their own)
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
                           "verse", "marin", "cedar"})
_OPENAI_TTS = ("tts-", "gpt-4o-mini-tts")

_TEXT_FORMATS = {"text": "text/plain; charset=utf-8", "srt": "application/x-subrip; charset=utf-8",
                 "vtt": "text/vtt; charset=utf-8"}


class MediaCodec(Codec):
    """A media endpoint: the body passes through to a provider that serves `endpoint`."""

    #: the model_info.mode values this endpoint serves
    modes: frozenset[str] = frozenset()

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        adapter = PROVIDERS[dep.provider].adapter
        url = adapter.media_url(self.endpoint, dep)
        if url is None:
            raise InvalidRequest(f"'{req.model}' ({dep.label}): {dep.provider} does not serve {self.endpoint}; "
                                 "pick a model whose provider does.", param="model")
        headers = adapter.headers(dep)
        if self.multipart:
            form: Form = req.context
            headers["content-type"] = f"multipart/form-data; boundary={form.boundary.decode('latin-1')}"
            return UpstreamRequest("POST", url, headers, form.with_value("model", dep.provider_model), req.stream)
        assert req.native is not None
        body = {k: v for k, v in req.native.items() if k not in adapter.gateway_fields}
        body["model"] = dep.provider_model
        return UpstreamRequest("POST", url, headers, orjson.dumps(body), req.stream)

    def cacheable(self, req: ChatRequest) -> bool:
        return False


def _json(body: bytes, what: str) -> dict[str, Any]:
    return json_object(body, f"the provider answered {what}")


def _model(value: str | None) -> str:
    if not value:
        raise InvalidRequest("'model' is required: name one of the models listed by GET /v1/models.",
                             param="model")
    return value


class TranscriptionCodec(MediaCodec):
    """POST /v1/audio/transcriptions (and, with endpoint "translations", /v1/audio/translations)."""

    modes = frozenset({"audio_transcription"})
    multipart = True
    takes_uploads = True

    def __init__(self, endpoint: str = "transcriptions") -> None:
        self.endpoint = endpoint

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        content_type = (headers or {}).get(b"content-type", b"").decode("latin-1")
        form = parse_form(raw, content_type)
        model = _model(form.value("model"))
        part = form.file("file")
        if part is None:
            raise InvalidRequest("'file' is required: the audio to transcribe, as a form file.", param="file")
        data = form.data(part)
        if not len(data):
            raise InvalidRequest("'file' is empty: send the audio file's bytes.", param="file")
        kind = next((k for magic, k in _AUDIO_MAGIC if data[:len(magic)] == magic), None)
        if kind is None and data[4:8] != b"ftyp":  # m4a / mp4
            raise InvalidRequest("'file' is not audio RIN recognises: send flac, m4a, mp3, mp4, mpeg, mpga, "
                                 "oga, ogg, wav or webm.", param="file")
        response_format = form.value("response_format") or "json"
        if response_format not in ("json", "text", "srt", "verbose_json", "vtt"):
            raise InvalidRequest(f"'response_format' {response_format!r} is not one of json, text, srt, "
                                 "verbose_json, vtt.", param="response_format")
        seconds = _wav_seconds(data) if kind == "wav" else None
        # what the answer depends on (the cache's key: the file by its hash), and what parse needs
        body = {"model": model, "response_format": response_format, "prompt": form.value("prompt") or "",
                "language": form.value("language") or "", "temperature": form.value("temperature") or "",
                "timestamp_granularities": form.values("timestamp_granularities[]"),
                "file_sha256": _digest(data), "seconds": seconds}
        # the budgets' worst case: a WAV says its length; other formats at 16 kB a second (128 kbit/s),
        # and a token-priced model's audio at 50 tokens a second
        audio = seconds if seconds is not None else len(data) / 16_000
        expected = Usage(prompt_tokens=int(audio * 50) + 100, completion_tokens=int(audio * 10) + 100,
                         seconds=audio)
        return ChatRequest(body, model, request_id=request_id, body_size=len(raw), endpoint=self.endpoint,
                           user=user_header, context=form, expected=expected)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        asked = req.body
        fmt = asked["response_format"]
        usage = Usage()
        if fmt in _TEXT_FORMATS:
            usage.seconds = asked.get("seconds") or 0.0
            return ChatResult(body, usage, content_type=_TEXT_FORMATS[fmt])
        data = _json(body, self.endpoint)
        if not isinstance(data.get("text"), str):
            raise UpstreamProtocolError(f"the provider answered {self.endpoint} without 'text'")
        reported = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        if reported.get("type") == "tokens":
            usage.prompt_tokens = int(reported.get("input_tokens") or 0)
            usage.completion_tokens = int(reported.get("output_tokens") or 0)
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        else:
            seconds = reported.get("seconds") or data.get("duration") or asked.get("seconds")
            usage.seconds = float(seconds or 0.0)
        return ChatResult(body, usage)

    def cacheable(self, req: ChatRequest) -> bool:
        return True  # keyed on the file's hash, the model and the options


class SpeechCodec(MediaCodec):
    """POST /v1/audio/speech: the audio streams back to the client as it arrives."""

    endpoint = "speech"
    modes = frozenset({"audio_speech"})
    raw_stream = True

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        body = parse_json_body(raw)
        model = _model(body.get("model") if isinstance(body.get("model"), str) else None)
        text = body.get("input")
        if not isinstance(text, str) or not text:
            raise InvalidRequest("'input' is required: the text to speak.", param="input")
        if len(text) > 4096:
            raise InvalidRequest(f"'input' is {len(text)} characters; the limit is 4096.", param="input")
        voice = body.get("voice")
        if not isinstance(voice, (str, dict)) or not voice:
            raise InvalidRequest("'voice' is required (e.g. alloy, echo, fable, onyx, nova, shimmer).", param="voice")
        speed = body.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, (int, float))
                                  or not 0.25 <= speed <= 4.0):
            raise InvalidRequest(f"'speed' is {speed!r}; send a number from 0.25 to 4.0.", param="speed")
        # gpt-4o-mini-tts bills tokens: about a token for four characters in, and the audio out
        expected = Usage(prompt_tokens=len(text) // 4 + 50, completion_tokens=len(text) * 4 + 100,
                         characters=len(text))
        return ChatRequest(body, model, stream=True, request_id=request_id, body_size=len(raw),
                           endpoint=self.endpoint, native=body, user=user_header, expected=expected)

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        voice = req.body.get("voice")
        name = dep.provider_model.rsplit("/", 1)[-1]
        if dep.provider == "openai" and name.startswith(_OPENAI_TTS) and isinstance(voice, str) \
                and voice not in OPENAI_VOICES:
            raise InvalidRequest(f"'voice' {voice!r} is not one of {name}'s voices: "
                                 f"{', '.join(sorted(OPENAI_VOICES))}.", param="voice")
        return super().build(req, dep)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> "AudioRelay":
        return AudioRelay(len(req.body["input"]))

    def frames(self, payloads: list[bytes]) -> bytes:
        return b"".join(payloads)

    def stream_end(self, parser: Any, req: ChatRequest) -> bytes:
        return b""

    def stream_error(self, err: Any, parser: Any) -> bytes:
        return b""  # audio has no error frame: the body just ends, and the ledger says "error"


class AudioRelay:
    """Relays audio bytes as they come; bills the characters spoken."""

    __slots__ = ("usage", "usage_chunk", "done")

    def __init__(self, characters: int) -> None:
        self.usage = Usage(characters=characters)
        self.usage_chunk: bytes | None = None
        self.done = False

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk] if chunk else []

    def finish(self) -> list[bytes]:
        self.done = True
        return []


def _wav_seconds(data: memoryview) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        raise InvalidRequest("'file' is a WAV file RIN cannot read (a truncated or corrupt header).",
                             param="file") from None


def _digest(data: memoryview) -> str:
    return hashlib.sha256(data).hexdigest()

