"""The fake's media and rerank routes, driven with the real openai SDK (audio, images) and raw HTTP
(rerank, OpenRouter images), parsed strictly with the SDK's own response types."""

from __future__ import annotations

import base64
import io
import json
import socket
import urllib.request
import wave

import httpx2 as httpx
import openai
import pytest
from openai.types import ImagesResponse
from openai.types.audio import Transcription, TranscriptionVerbose, Translation, TranslationVerbose

from tests.fakes.media_fmt import INVALID_FORMAT, PNG
from tests.fakes.test_fake_upstream import post, sse_data

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOCS = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Capital punishment has existed in the United States since before it was a country.",
    "Bananas are rich in potassium.",
]
QUERY = "What is the capital of the United States?"

pytestmark = [
    pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning"),  # the SDK marks translations so
    pytest.mark.filterwarnings("ignore:unread_data:DeprecationWarning"),  # inside aiohttp's multipart reader
]


def make_wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return buf.getvalue()


WAV = make_wav(2.5)


# transcriptions and translations


def test_transcription_json_has_duration_usage_and_is_recorded(fake, oai):
    raw = oai.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("speech.wav", WAV, "audio/wav"), language="en", prompt="Hi", temperature=0.2
    )
    body = json.loads(raw.text)
    assert body == {"text": "Transcript of 2.50 seconds", "usage": {"type": "duration", "seconds": 3}}
    assert Transcription.model_validate(body).usage.seconds == 3
    assert raw.headers["content-type"] == "application/json" and raw.headers["x-request-id"].startswith("req_")

    recorded = fake.requests[-1]
    assert recorded.path == "/v1/audio/transcriptions" and recorded.model == "whisper-1"
    assert recorded.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = recorded.json
    assert (form["model"], form["language"], form["prompt"], form["temperature"]) == ("whisper-1", "en", "Hi", "0.2")
    assert form["file_size"] == len(WAV) and form["file_name"] == "speech.wav"
    assert form["files"] == [{"field": "file", "name": "speech.wav", "content_type": "audio/wav", "size": len(WAV)}]


def test_transcription_token_usage_for_gpt_4o_transcribe(oai):
    t = oai.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=("a.wav", WAV), prompt="Names: Ada")
    assert t.text == "Transcript of 2.50 seconds"
    usage = t.usage
    assert usage.type == "tokens" and usage.total_tokens == usage.input_tokens + usage.output_tokens
    details = usage.input_token_details
    assert details.audio_tokens == 25 and details.text_tokens > 0
    assert usage.input_tokens == details.audio_tokens + details.text_tokens
    with pytest.raises(openai.BadRequestError) as info:
        oai.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", WAV), response_format="verbose_json")
    assert info.value.body["param"] == "response_format" and info.value.body["code"] == "unsupported_value"


def test_transcription_verbose_json_segments_and_words(fake, oai):
    v = oai.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", WAV), response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert isinstance(v, TranscriptionVerbose)
    assert (v.language, v.duration, v.text) == ("english", 2.5, "Transcript of 2.50 seconds")
    assert [w.word for w in v.words] == ["Transcript", "of", "2.50", "seconds"] and v.words[-1].end == 2.5
    assert len(v.segments) == 1 and v.segments[0].end == 2.5 and v.segments[0].text == " " + v.text
    assert v.usage.seconds == 3
    assert fake.requests[-1].json["timestamp_granularities"] == ["word", "segment"]

    only_words = oai.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("a.wav", WAV), response_format="verbose_json", timestamp_granularities=["word"]
    )
    body = json.loads(only_words.text)
    assert "words" in body and "segments" not in body
    assert TranscriptionVerbose.model_validate(body)


def test_transcription_text_srt_vtt_are_plain_text(oai):
    text = oai.audio.transcriptions.with_raw_response.create(model="whisper-1", file=("a.wav", WAV), response_format="text")
    assert text.headers["content-type"] == "text/plain; charset=utf-8" and text.text == "Transcript of 2.50 seconds\n"
    assert oai.audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV), response_format="text").strip() == (
        "Transcript of 2.50 seconds"
    )
    srt = oai.audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV), response_format="srt")
    assert srt == "1\n00:00:00,000 --> 00:00:02,500\nTranscript of 2.50 seconds\n\n"
    vtt = oai.audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV), response_format="vtt")
    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nTranscript of 2.50 seconds\n\n"


def test_translation_json_and_verbose(fake, oai):
    tr = oai.audio.translations.with_raw_response.create(model="whisper-1", file=("de.wav", make_wav(1.25)))
    assert json.loads(tr.text) == {"text": "Translation of 1.25 seconds"}
    assert Translation.model_validate(json.loads(tr.text))
    v = oai.audio.translations.create(model="whisper-1", file=("de.wav", make_wav(1.25)), response_format="verbose_json")
    assert isinstance(v, TranslationVerbose) and v.language == "english" and v.segments[0].end == 1.25
    assert fake.requests[-1].path == "/v1/audio/translations"


def test_audio_format_checks_answer_like_openai(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.audio.transcriptions.create(model="whisper-1", file=("notes.wav", b"just some text, not audio"))
    assert info.value.body == {"message": INVALID_FORMAT, "type": "invalid_request_error", "param": None, "code": None}
    assert INVALID_FORMAT == (
        "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
    )
    with pytest.raises(openai.BadRequestError) as info:
        oai.audio.transcriptions.create(model="whisper-1", file=("empty.wav", b""))
    assert info.value.body["message"] == INVALID_FORMAT
    with pytest.raises(openai.BadRequestError) as info:  # a WAV header, no frames
        oai.audio.transcriptions.create(model="whisper-1", file=("silence.wav", make_wav(0)))
    assert info.value.body == {
        "message": "Audio file is too short. Minimum audio length is 0.1 seconds.",
        "type": "invalid_request_error",
        "param": "file",
        "code": "audio_too_short",
    }
    # other containers are taken by their magic bytes; the duration is estimated from the size
    for magic in (b"ID3\x04", b"\xff\xfb\x90\x64", b"OggS\x00\x02", b"fLaC\x00\x00", b"\x00\x00\x00\x20ftypM4A ",
                  b"\x1a\x45\xdf\xa3"):
        t = oai.audio.transcriptions.create(model="whisper-1", file=("clip", magic + b"\x00" * 32000))
        assert t.text.startswith("Transcript of 2.0")
    with pytest.raises(openai.BadRequestError) as info:
        oai.audio.transcriptions.create(model="whisper-1", file=("a.wav", WAV), response_format="xml")  # type: ignore[arg-type]
    assert info.value.body["code"] == "invalid_value"


def test_audio_requests_checks_and_auth(fake):
    url = fake.openai_base + "/audio/transcriptions"
    files = {"file": ("a.wav", WAV, "audio/wav")}
    r = httpx.post(url, files=files, data={"model": "whisper-1"})
    assert r.status_code == 401 and "You didn't provide an API key" in r.json()["error"]["message"]
    r = httpx.post(url, files=files, data={"model": "whisper-1"}, headers={"Authorization": "Bearer bad-key"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    auth = {"Authorization": "Bearer k"}
    r = httpx.post(url, files=files, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["message"] == "you must provide a model parameter"
    r = httpx.post(url, files={"other": ("x", b"1")}, data={"model": "whisper-1"}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"
    r = httpx.post(url, json={"model": "whisper-1"}, headers=auth)
    assert r.status_code == 400 and "expected multipart/form-data" in r.json()["error"]["message"]


def test_audio_faults(fake, oai):
    wav = ("a.wav", WAV)
    with pytest.raises(openai.RateLimitError) as info:
        oai.audio.transcriptions.create(model="whisper-1-fail-429-ra4", file=wav)
    assert info.value.response.headers["retry-after"] == "4" and info.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        oai.audio.translations.create(model="whisper-1-fail-500", file=wav)
    with pytest.raises(openai.APIConnectionError):
        oai.audio.transcriptions.create(model="whisper-1-reset", file=wav)
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).audio.transcriptions.create(model="whisper-1-silent", file=wav)
    with pytest.raises(openai.APIConnectionError):
        oai.audio.transcriptions.create(model="whisper-1-cut-mid", file=wav)
    garbage = oai.audio.transcriptions.with_raw_response.create(model="whisper-1-garbage", file=wav)
    assert garbage.status_code == 200 and garbage.text.startswith("<html>")
    flaky = [httpx.post(fake.openai_base + "/audio/transcriptions", files={"file": wav}, data={"model": "w-flaky1"},
                        headers={"Authorization": "Bearer k"}).status_code for _ in range(2)]
    assert flaky == [500, 200]
    assert fake.count("whisper-1-silent") == 1


# speech


def test_speech_streams_a_real_wav_in_chunks(fake, oai):
    text = "Hello there, this is the fake speaking slowly."
    with oai.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=text, response_format="wav", instructions="Cheerful"
    ) as resp:
        assert resp.headers["content-type"] == "audio/wav"
        assert resp.headers["transfer-encoding"] == "chunked" and "content-length" not in resp.headers
        chunks = list(resp.iter_bytes())
    audio = b"".join(chunks)
    with wave.open(io.BytesIO(audio)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() / w.getframerate() == pytest.approx(len(text) / 15, abs=0.01)
    assert len(audio) > 8 * 4096
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/audio/speech" and recorded.json["instructions"] == "Cheerful"


def test_speech_formats_and_content_types(fake):
    expected = {"mp3": ("audio/mpeg", b"\xff\xf3"), "opus": ("audio/opus", b"OggS"), "aac": ("audio/aac", b"\xff\xf1"),
                "flac": ("audio/flac", b"fLaC"), "pcm": ("audio/pcm", b"\x00\x00")}
    for fmt, (ctype, magic) in expected.items():
        status, headers, body = post(fake.openai_base + "/audio/speech",
                                     {"model": "tts-1", "voice": "alloy", "input": "x" * 60, "response_format": fmt})
        assert status == 200 and headers["Content-Type"] == ctype and body.startswith(magic), fmt
    # mp3 is the default; longer input, longer audio
    short = post(fake.openai_base + "/audio/speech", {"model": "tts-1", "voice": "nova", "input": "x" * 30})[2]
    long = post(fake.openai_base + "/audio/speech", {"model": "tts-1", "voice": "nova", "input": "x" * 300})[2]
    assert short.startswith(b"\xff\xf3") and len(long) > len(short)


def test_speech_unknown_voice_is_openais_validation_error(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.audio.speech.create(model="tts-1", voice="bogus", input="hi")
    body = info.value.body
    assert body["type"] == "invalid_request_error" and body["param"] is None and body["code"] is None
    assert body["message"].startswith("[{'type': 'enum', 'loc': ('body', 'voice'), 'msg': \"Input should be 'alloy', ")
    assert "'input': 'bogus'" in body["message"]
    with pytest.raises(openai.BadRequestError):
        oai.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="ogg")  # type: ignore[arg-type]
    assert oai.audio.speech.create(model="tts-1", voice={"id": "voice_123"}, input="hi").content  # custom voice


def test_speech_faults(fake, oai):
    with pytest.raises(openai.RateLimitError):
        oai.audio.speech.create(model="tts-1-fail-429", voice="alloy", input="hi")
    with pytest.raises(openai.APIConnectionError):
        oai.audio.speech.create(model="tts-1-reset", voice="alloy", input="hi")
    # cut-mid: some chunks, then the connection closes before the last chunk
    received = bytearray()
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("POST", fake.openai_base + "/audio/speech", headers={"Authorization": "Bearer k"},
                          json={"model": "tts-1-cut-mid", "voice": "alloy", "input": "x" * 100, "response_format": "wav"},
                          timeout=5) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_bytes():
                received += chunk
    assert 0 < len(received) < 24000 * 2 * 100 / 15
    status, headers, body = post(fake.openai_base + "/audio/speech", {"model": "tts-1-garbage", "voice": "alloy", "input": "x"})
    assert status == 200 and headers["Content-Type"] == "audio/mpeg" and body.startswith(b"<html>")


# images


def test_dall_e_3_url_image_and_its_file(fake, oai):
    resp = oai.images.generate(model="dall-e-3", prompt="A red fox", size="1792x1024", quality="hd", style="vivid")
    assert isinstance(resp, ImagesResponse) and resp.usage is None and len(resp.data) == 1
    image = resp.data[0]
    assert image.url.startswith(fake.base_url + "/_fake/images/") and image.url.endswith(".png")
    assert image.revised_prompt and "A red fox" in image.revised_prompt and image.b64_json is None
    with urllib.request.urlopen(image.url, timeout=5) as got:
        assert got.headers["Content-Type"] == "image/png" and got.read() == PNG
    status = httpx.get(fake.base_url + "/_fake/images/img-unknown.png").status_code
    assert status == 404
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/images/generations" and recorded.json["style"] == "vivid"


def test_image_rules_per_model(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="dall-e-3", prompt="x", n=2)
    assert info.value.body["message"] == "You must provide n=1 for this model."
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="dall-e-3", prompt="x", size="512x512")
    assert info.value.body == {"message": "The size is not supported by this model.", "type": "invalid_request_error",
                               "param": None, "code": "invalid_size"}
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="dall-e-2", prompt="x", size="1792x1024")
    assert info.value.body["code"] == "invalid_size"
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-1", prompt="x", size="512x512")
    assert info.value.body["param"] == "size" and info.value.body["code"] == "invalid_value"
    with pytest.raises(openai.BadRequestError) as info:
        oai.images.generate(model="gpt-image-1", prompt="x", response_format="url")
    assert info.value.body["code"] == "unknown_parameter"

    two = oai.images.generate(model="dall-e-2", prompt="x", n=2, size="256x256", response_format="b64_json")
    assert len(two.data) == 2 and all(base64.b64decode(d.b64_json) == PNG for d in two.data)
    assert all(d.revised_prompt is None and d.url is None for d in two.data)
    default = oai.images.generate(prompt="no model given")  # dall-e-2, url
    assert default.data[0].url


def test_gpt_image_1_b64_and_usage(oai):
    raw = oai.images.with_raw_response.generate(model="gpt-image-1", prompt="A lighthouse at dusk", quality="high",
                                                size="1536x1024", background="transparent")
    body = json.loads(raw.text)
    resp = ImagesResponse.model_validate(body)
    assert base64.b64decode(resp.data[0].b64_json).startswith(PNG_MAGIC) and resp.data[0].url is None
    assert (resp.background, resp.output_format, resp.quality, resp.size) == ("transparent", "png", "high", "1536x1024")
    usage = resp.usage
    assert usage.input_tokens == usage.input_tokens_details.text_tokens > 0 and usage.input_tokens_details.image_tokens == 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens and usage.output_tokens == 6240
    assert set(body["usage"]) == {"input_tokens", "input_tokens_details", "output_tokens", "total_tokens"}


def test_image_edits_multipart(fake, oai):
    edited = oai.images.edit(model="dall-e-2", image=("in.png", PNG, "image/png"), mask=("m.png", PNG, "image/png"),
                             prompt="Add a hat", n=1, size="512x512", response_format="url")
    assert edited.data[0].url.startswith(fake.base_url + "/_fake/images/")
    form = fake.requests[-1].json
    assert fake.requests[-1].path == "/v1/images/edits"
    assert [(f["field"], f["name"]) for f in form["files"]] == [("image", "in.png"), ("mask", "m.png")]
    assert form["file_size"] == 2 * len(PNG) and form["prompt"] == "Add a hat" and form["size"] == "512x512"

    several = oai.images.edit(model="gpt-image-1", image=[("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")],
                              prompt="Combine them")
    assert base64.b64decode(several.data[0].b64_json) == PNG
    assert several.usage.input_tokens_details.image_tokens == 2 * 194
    assert [f["field"] for f in fake.requests[-1].json["files"]] == ["image", "image"]

    with pytest.raises(openai.BadRequestError) as info:
        oai.images.edit(model="dall-e-2", image=("in.png", PNG), prompt="x", size="1792x1024")
    assert info.value.body["code"] == "invalid_size"
    r = httpx.post(fake.openai_base + "/images/edits", data={"prompt": "x"}, files={"mask": ("m.png", PNG)},
                   headers={"Authorization": "Bearer k"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"


def test_image_faults(fake, oai):
    with pytest.raises(openai.RateLimitError) as info:
        oai.images.generate(model="dall-e-3-fail-429-ra2", prompt="x")
    assert info.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.InternalServerError) as err:
        oai.images.edit(model="gpt-image-1-fail-503", image=("a.png", PNG), prompt="x")
    assert err.value.status_code == 503
    with pytest.raises(openai.APIConnectionError):
        oai.images.generate(model="gpt-image-1-cut-mid", prompt="x")
    statuses = [post(fake.openai_base + "/images/generations", {"model": "dall-e-2-flaky2", "prompt": "x"})[0]
                for _ in range(3)]
    assert statuses == [500, 500, 200]
    status, headers, body = post(fake.openai_base + "/images/generations", {"model": "dall-e-3-garbage", "prompt": "x"})
    assert status == 200 and headers["Content-Type"] == "application/json" and body.startswith(b"<html>")


# rerank


def test_cohere_v2_rerank(fake):
    url = fake.cohere_base + "/v2/rerank"
    status, headers, raw = post(url, {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 3})
    body = json.loads(raw)
    assert status == 200 and list(body) == ["results", "id", "meta"]
    assert [r["index"] for r in body["results"]] == [1, 0, 2]  # 0 and 2 tie: input order
    assert all(list(r) == ["index", "relevance_score"] for r in body["results"])
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] < scores[0] <= 1
    assert body["meta"] == {"api_version": {"version": "2", "is_experimental": False}, "billed_units": {"search_units": 1}}
    assert len(body["id"]) == 36 and fake.requests[-1].model == "rerank-v3.5"
    # deterministic
    assert json.loads(post(url, {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 3})[2])["results"] == body["results"]

    # v1 could return the documents
    status, _, raw = post(fake.cohere_base + "/v1/rerank",
                          {"model": "rerank-english-v3.0", "query": QUERY, "documents": DOCS, "return_documents": True})
    v1 = json.loads(raw)
    assert status == 200 and v1["meta"]["api_version"]["version"] == "1" and len(v1["results"]) == 4
    assert v1["results"][0] == {"index": 1, "relevance_score": scores[0], "document": {"text": DOCS[1]}}


def test_cohere_errors_and_faults(fake):
    url = fake.cohere_base + "/v2/rerank"
    ok = {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS}
    status, _, raw = post(url, ok, {"X-No-Key": "1"})
    assert status == 401 and json.loads(raw)["message"] == "no api key supplied" and "id" in json.loads(raw)
    status, _, raw = post(url, {**ok, "query": ""})
    assert status == 400 and json.loads(raw)["message"].startswith("invalid request: query")
    status, _, raw = post(url, {**ok, "documents": [{"text": "x"}]})
    assert status == 400
    status, headers, raw = post(url, {**ok, "model": "rerank-fail-429-ra7"})
    assert status == 429 and headers["Retry-After"] == "7" and "Trial key" in json.loads(raw)["message"]
    assert post(url, {**ok, "model": "rerank-fail-500"})[0] == 500
    assert [post(url, {**ok, "model": "rerank-flaky1"})[0] for _ in range(2)] == [500, 200]
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={**ok, "model": "rerank-reset"}, headers={"Authorization": "Bearer k"})
    with pytest.raises(httpx.TimeoutException):
        httpx.post(url, json={**ok, "model": "rerank-silent"}, headers={"Authorization": "Bearer k"}, timeout=0.3)
    r = httpx.post(url, json={**ok, "model": "rerank-garbage"}, headers={"Authorization": "Bearer k"})
    assert r.status_code == 200 and r.text.startswith("<html>")
    assert post(fake.cohere_base + "/v3/nothing", ok)[0] == 404


def test_jina_rerank(fake):
    url = fake.jina_base + "/v1/rerank"
    docs = [DOCS[0], {"text": DOCS[1]}, DOCS[3]]
    status, _, raw = post(url, {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": docs, "top_n": 2})
    body = json.loads(raw)
    assert status == 200 and list(body) == ["model", "usage", "results"]
    assert body["model"] == "jina-reranker-v2-base-multilingual"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] > 0
    assert [(r["index"], r["document"]) for r in body["results"]] == [(1, {"text": DOCS[1]}), (0, {"text": DOCS[0]})]
    status, _, raw = post(url, {"model": "jina-reranker-m0", "query": QUERY, "documents": DOCS, "return_documents": False})
    assert all("document" not in r for r in json.loads(raw)["results"])
    status, _, raw = post(url, {"model": "m", "query": QUERY, "documents": DOCS}, {"X-No-Key": "1"})
    assert status == 401 and "detail" in json.loads(raw)
    status, headers, raw = post(url, {"model": "jina-fail-429", "query": QUERY, "documents": DOCS})
    assert status == 429 and headers["Retry-After"] == "1" and "detail" in json.loads(raw)


def test_rerank_on_the_openai_base_like_a_local_reranker(fake):
    url = fake.openai_base + "/rerank"
    body = {"model": "BAAI/bge-reranker-v2-m3", "query": QUERY, "documents": DOCS, "top_n": 1, "return_documents": True}
    r = httpx.post(url, json=body)  # a local reranker takes requests without a key
    assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_")
    got = r.json()
    assert got["results"] == [{"index": 1, "relevance_score": got["results"][0]["relevance_score"], "document": {"text": DOCS[1]}}]
    assert got["model"] == "BAAI/bge-reranker-v2-m3"
    r = httpx.post(url, json={**body, "model": "bge-fail-503"}, headers={"Authorization": "Bearer k"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "server_error"
    r = httpx.post(url, json={**body, "documents": []})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(url, json=body, headers={"Authorization": "Bearer bad-key"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


# OpenRouter image generation through chat completions


def test_openrouter_image_modalities(fake):
    url = fake.openrouter_base + "/chat/completions"
    ask = {"model": "google/gemini-2.5-flash-image", "modalities": ["image", "text"],
           "messages": [{"role": "user", "content": "Draw a cat"}]}
    status, _, raw = post(url, ask)
    message = json.loads(raw)["choices"][0]["message"]
    assert status == 200 and message["content"] == "Echo: Draw a cat"
    assert message["images"] == [{"type": "image_url", "image_url": {"url": message["images"][0]["image_url"]["url"]}}]
    prefix = "data:image/png;base64,"
    data_url = message["images"][0]["image_url"]["url"]
    assert data_url.startswith(prefix) and base64.b64decode(data_url[len(prefix):]) == PNG
    # no image without the modality, nor for a model without "image" in its name
    assert "images" not in json.loads(post(url, {**ask, "modalities": ["text"]})[2])["choices"][0]["message"]
    assert "images" not in json.loads(post(url, {**ask, "model": "openai/gpt-4o"})[2])["choices"][0]["message"]

    status, _, raw = post(url, {**ask, "stream": True})
    chunks = sse_data(raw)
    with_images = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("images")]
    assert status == 200 and len(with_images) == 1 and raw.endswith(b"data: [DONE]\n\n")
    assert with_images[0]["choices"][0]["delta"]["images"][0]["image_url"]["url"] == data_url
    position = chunks.index(with_images[0])
    assert chunks[position + 1]["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Echo: Draw a cat"


def test_every_media_route_leaves_the_server_healthy(fake):
    """After the connection-killing faults above, a fresh socket still gets answers."""
    with socket.create_connection((fake.host, fake.port), timeout=2):
        pass
    assert post(fake.cohere_base + "/v2/rerank", {"model": "r", "query": "a", "documents": ["a"]})[0] == 200
