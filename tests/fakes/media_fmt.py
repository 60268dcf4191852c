"""OpenAI's media endpoints: audio transcriptions / translations / speech and image generations / edits.

Shapes from OpenAI's API reference and the openai SDK's types (openai.types.audio.*,
openai.types.images_response); error bodies as api.openai.com sends them:

- a file that is no audio: 400 "Invalid file format. Supported formats: [...]", param null, code null;
- audio shorter than 0.1 s (a WAV header without frames): 400 audio_too_short, param "file";
- an unknown TTS voice: 400 with the FastAPI validation list as the message (openai-node#1284);
- dall-e sizes: 400 invalid_size "The size is not supported by this model."; dall-e-3 n != 1: 400.

What the fake "hears": the duration of the audio (exact for WAV, from its header; estimated from
the size for compressed formats), answered as "Transcript of N.NN seconds" ("Translation of …").
"""

from __future__ import annotations

import base64
import io
import math
import struct
import time
import wave
import zlib

from .answer import new_id, tokens
from .openai_fmt import OpenAIFormat, error_body
from .wire import Reply, dumps

AUDIO_FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
INVALID_FORMAT = f"Invalid file format. Supported formats: {AUDIO_FORMATS}"
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
TEXT_PLAIN = "text/plain; charset=utf-8"

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
          "marin", "cedar")
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                "wav": "audio/wav", "pcm": "audio/pcm"}
SPEECH_RATE = 24000  # Hz, 16-bit mono: OpenAI's TTS output
SPEECH_CHUNK = 4096

IMAGE_SIZES = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
}
# gpt-image-1 output tokens by quality, for a square image (OpenAI's pricing table)
_IMAGE_OUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
_EDIT_IMAGE_TOKENS = 194  # input tokens per image given to gpt-image-1 edits


def _png(width: int = 2, height: int = 2, rgba: bytes = b"\x20\x80\xc0\xff") -> bytes:
    """A real, minimal PNG (RGBA, 8 bits per channel)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + rgba * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = _png()
PNG_B64 = base64.b64encode(PNG).decode()
PNG_DATA_URL = "data:image/png;base64," + PNG_B64


# audio in


def sniff_audio(data: bytes) -> str | None:
    """The container a file's first bytes announce, or None when it is none OpenAI takes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[4:8] == b"ftyp":
        return "mp4" if data[8:11] in (b"iso", b"mp4", b"avc") else "m4a"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def audio_duration(data: bytes, kind: str) -> float:
    """Seconds of audio: from the header for WAV, else estimated from the size at 128 kbit/s."""
    if kind == "wav":
        try:
            with wave.open(io.BytesIO(data)) as w:
                return w.getnframes() / float(w.getframerate())
        except (wave.Error, EOFError, ZeroDivisionError):
            byte_rate = struct.unpack("<I", data[28:32])[0] if len(data) >= 44 else 0
            return max(0, len(data) - 44) / byte_rate if byte_rate else 0.0
    return len(data) / 16000


def _bad(message: str, param: str | None = None, code: str | None = None) -> Reply:
    return Reply(400, error_body(message, "invalid_request_error", param, code), OpenAIFormat().headers())


def missing(param: str) -> Reply:
    return _bad(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")


def not_multipart(content_type: str) -> Reply:
    msg = (
        f"Invalid Content-Type header ({content_type}), expected multipart/form-data. (HINT: If you're using "
        "curl, you can pass -H 'Content-Type: multipart/form-data')"
    )
    return _bad(msg)


def _supported(values: tuple[str, ...] | list[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _invalid_value(value: object, param: str, values: tuple[str, ...]) -> Reply:
    return _bad(f"Invalid value: '{value}'. Supported values are: {_supported(values)}.", param, "invalid_value")


def is_token_transcriber(model: str) -> bool:
    return "gpt-4o" in model and "transcribe" in model


def check_audio(fields: dict, files: list[dict]) -> tuple[Reply | None, bytes, str]:
    """(error, audio bytes, container) for a transcription / translation form."""
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        return _bad("you must provide a model parameter"), b"", ""
    upload = next((f for f in files if f["field"] == "file"), None)
    if upload is None:
        return missing("file"), b"", ""
    fmt = fields.get("response_format") or "json"
    if fmt not in TRANSCRIPT_FORMATS:
        return _invalid_value(fmt, "response_format", TRANSCRIPT_FORMATS), b"", ""
    if is_token_transcriber(model) and fmt not in ("json", "text"):
        msg = f"response_format '{fmt}' is not compatible with model '{model}'. Use 'json' or 'text' instead."
        return _bad(msg, "response_format", "unsupported_value"), b"", ""
    data = upload["data"]
    kind = sniff_audio(data)
    if kind is None:
        return _bad(INVALID_FORMAT), b"", ""
    if audio_duration(data, kind) < 0.1:
        return _bad("Audio file is too short. Minimum audio length is 0.1 seconds.", "file", "audio_too_short"), b"", ""
    return None, data, kind


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def transcription(task: str, fields: dict, data: bytes, kind: str) -> Reply:
    """The answer to a valid transcription (task "transcribe") or translation ("translate") form."""
    model = fields["model"]
    duration = audio_duration(data, kind)
    text = f"{'Translation' if task == 'translate' else 'Transcript'} of {duration:.2f} seconds"
    fmt = fields.get("response_format") or "json"
    headers = OpenAIFormat().headers()
    if fmt == "text":
        return Reply(200, (text + "\n").encode(), {**headers, "Content-Type": TEXT_PLAIN})
    if fmt == "srt":
        body = f"1\n{_stamp(0, ',')} --> {_stamp(duration, ',')}\n{text}\n\n"
        return Reply(200, body.encode(), {**headers, "Content-Type": TEXT_PLAIN})
    if fmt == "vtt":
        body = f"WEBVTT\n\n{_stamp(0, '.')} --> {_stamp(duration, '.')}\n{text}\n\n"
        return Reply(200, body.encode(), {**headers, "Content-Type": TEXT_PLAIN})
    if is_token_transcriber(model):
        audio_tokens = max(1, math.ceil(duration * 10))
        text_tokens = tokens(len(fields["prompt"])) if fields.get("prompt") else 0
        output = tokens(len(text))
        usage = {"type": "tokens", "input_tokens": audio_tokens + text_tokens, "input_token_details": {
            "text_tokens": text_tokens, "audio_tokens": audio_tokens}, "output_tokens": output,
            "total_tokens": audio_tokens + text_tokens + output}
    else:
        usage = {"type": "duration", "seconds": math.ceil(duration)}
    if fmt == "json":
        obj: dict = {"text": text} if task == "translate" else {"text": text, "usage": usage}
        return Reply(200, dumps(obj), headers)
    # verbose_json (whisper-1 only)
    granularities = fields.get("timestamp_granularities") or ["segment"]
    if isinstance(granularities, str):
        granularities = [granularities]
    language = fields.get("language") or "en"
    obj = {"task": task, "language": "english" if task == "translate" else _LANGUAGES.get(language, language),
           "duration": round(duration, 2), "text": text}
    if task == "transcribe" and "word" in granularities:
        words = text.split()
        step = duration / len(words)
        obj["words"] = [{"word": w, "start": round(i * step, 2), "end": round((i + 1) * step, 2)}
                        for i, w in enumerate(words)]
    if task == "translate" or "segment" in granularities:
        obj["segments"] = [{
            "id": 0, "seek": 0, "start": 0.0, "end": round(duration, 2), "text": " " + text,
            "tokens": [50364 + i for i in range(tokens(len(text)))], "temperature": float(fields.get("temperature") or 0),
            "avg_logprob": -0.2534, "compression_ratio": 0.8519, "no_speech_prob": 0.0121,
        }]
    if task == "transcribe":
        obj["usage"] = usage
    return Reply(200, dumps(obj), headers)


_LANGUAGES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "ja": "japanese",
              "zh": "chinese", "pt": "portuguese", "nl": "dutch", "ru": "russian"}


# speech out


def _enum_error(param: str, value: object, values: tuple[str, ...]) -> Reply:
    """OpenAI's FastAPI validation error for an enum field, as it answers for an unknown voice."""
    quoted = [f"'{v}'" for v in values]
    expected = ", ".join(quoted[:-1]) + " or " + quoted[-1]
    detail = [{"type": "enum", "loc": ("body", param), "msg": f"Input should be {expected}", "input": value,
               "ctx": {"expected": expected}}]
    return _bad(repr(detail))


def check_speech(body: dict) -> Reply | None:
    if not isinstance(body.get("input"), str):
        return missing("input")
    voice = body.get("voice")
    if voice is None:
        return missing("voice")
    if not (isinstance(voice, dict) and isinstance(voice.get("id"), str)) and voice not in VOICES:
        return _enum_error("voice", voice, VOICES)
    fmt = body.get("response_format", "mp3")
    if fmt not in SPEECH_TYPES:
        return _enum_error("response_format", fmt, tuple(SPEECH_TYPES))
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        return _bad(f"{speed} is not a valid speed; it must be between 0.25 and 4.0", "speed", "invalid_value")
    return None


def speech(body: dict) -> tuple[bytes, str]:
    """(audio bytes, content type): ~15 characters a second of silence, in the asked format."""
    fmt = body.get("response_format", "mp3")
    seconds = min(60.0, max(0.5, len(body["input"]) / 15) / float(body.get("speed") or 1.0))
    frames = int(SPEECH_RATE * seconds)
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SPEECH_RATE)
            w.writeframes(b"\x00\x00" * frames)
        return buf.getvalue(), SPEECH_TYPES[fmt]
    if fmt == "pcm":
        return b"\x00\x00" * frames, SPEECH_TYPES[fmt]
    size = int(seconds * 20000)  # ~160 kbit/s
    if fmt == "mp3":  # MPEG-2 layer III frames at 24 kHz, as OpenAI's TTS sends them (no ID3 tag)
        frame = b"\xff\xf3\xe4\xc4" + b"\x00" * 572
        data = frame * (size // len(frame) + 1)
    elif fmt == "opus":
        data = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead\x01\x01\x38\x01\xc0\x5d\x00\x00\x00\x00\x00"
    elif fmt == "aac":  # ADTS frames
        frame = b"\xff\xf1\x4c\x80\x2e\x7f\xfc" + b"\x00" * 363
        data = frame * (size // len(frame) + 1)
    else:  # flac
        data = b"fLaC\x80\x00\x00\x22" + b"\x00" * 34
    return data.ljust(size, b"\x00"), SPEECH_TYPES[fmt]


# images


def image_model(model: object) -> str:
    """The model family for size rules: dall-e-2 (the default), dall-e-3 or gpt-image-1."""
    name = model if isinstance(model, str) and model else "dall-e-2"
    if "gpt-image" in name:
        return "gpt-image-1"
    return "dall-e-3" if "dall-e-3" in name else "dall-e-2"


def _int(value: object, default: int) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_images(params: dict) -> Reply | None:
    """Size, n and response_format rules of images/generations and images/edits."""
    if not isinstance(params.get("prompt"), str) or not params["prompt"]:
        return missing("prompt")
    family = image_model(params.get("model"))
    n = _int(params.get("n"), 1)
    if n is None:
        return _bad(f"'{params.get('n')}' is not of type 'integer' - 'n'", "n")
    if n < 1:
        return _bad(f"{n} is less than the minimum of 1 - 'n'", "n", "integer_below_min_value")
    if n > 10:
        return _bad(f"{n} is greater than the maximum of 10 - 'n'", "n", "integer_above_max_value")
    if family == "dall-e-3" and n != 1:
        return _bad("You must provide n=1 for this model.")
    size = params.get("size")
    if family == "gpt-image-1":
        if params.get("response_format") is not None:
            return _bad("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter")
        if size is not None and size not in IMAGE_SIZES[family]:
            return _invalid_value(size, "size", IMAGE_SIZES[family])
    else:
        if size is not None and size not in IMAGE_SIZES[family]:
            return Reply(400, error_body("The size is not supported by this model.", "invalid_request_error", None,
                                         "invalid_size"), OpenAIFormat().headers())
        rf = params.get("response_format")
        if rf is not None and rf not in ("url", "b64_json"):
            return _invalid_value(rf, "response_format", ("url", "b64_json"))
    return None


def images(params: dict, base_url: str, issued: set[str], input_images: int = 0) -> Reply:
    """An ImagesResponse for valid generation / edit parameters; `issued` learns the ids of URL images."""
    family = image_model(params.get("model"))
    n = _int(params.get("n"), 1) or 1
    obj: dict = {"created": int(time.time())}
    data = []
    for _ in range(n):
        if family == "gpt-image-1" or params.get("response_format") == "b64_json":
            item: dict = {"b64_json": PNG_B64}
        else:
            image_id = new_id("img-")
            issued.add(image_id)
            item = {"url": f"{base_url}/_fake/images/{image_id}.png"}
        if family == "dall-e-3":
            item["revised_prompt"] = "A detailed rendering of: " + params["prompt"]
        data.append(item)
    if family != "gpt-image-1":
        obj["data"] = data
        return Reply(200, dumps(obj), OpenAIFormat().headers())
    quality = params.get("quality") or "auto"
    quality = "medium" if quality in ("auto", "standard", "hd") else quality
    size = params.get("size") or "auto"
    background = params.get("background") or "auto"
    text_tokens = tokens(len(params["prompt"]))
    image_tokens = input_images * _EDIT_IMAGE_TOKENS
    per_image = _IMAGE_OUT_TOKENS.get(quality, 1056)
    if size not in ("1024x1024", "auto"):
        per_image = per_image * 3 // 2  # 1536x1024 / 1024x1536
    out = per_image * n
    obj.update({
        "background": "opaque" if background == "auto" else background,
        "data": data,
        "output_format": params.get("output_format") or "png",
        "quality": quality,
        "size": "1024x1024" if size == "auto" else size,
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
            "output_tokens": out,
            "total_tokens": text_tokens + image_tokens + out,
        },
    })
    return Reply(200, dumps(obj), OpenAIFormat().headers())
