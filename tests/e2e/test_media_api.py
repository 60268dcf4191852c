"""Open WebUI's other engines through RIN with the real `openai` SDK: speech to text, text to speech,
image generation and rerank, each routed, billed by its own quantity and recorded in the ledger."""

from __future__ import annotations

import io
import wave

import openai
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.e2e.test_messages_api import ledger_rows, rows_for
from tests.gateway import Gateway


def wav_bytes(seconds: float = 2.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def media_config(fake) -> dict:
    o = fake.openai_base
    return {
        "model_list": [
            deployment("whisper-1", "openai/whisper-1", o, model_info={"input_cost_per_second": 0.0001}),
            deployment("stt-fails", "openai/whisper-fail-500", o, model_info={"mode": "audio_transcription"}),
            deployment("speech-to-text", "openai/whisper-1", o, model_info={"input_cost_per_second": 0.0001}),
            deployment("tts-1", "openai/tts-1", o, model_info={"input_cost_per_character": 0.000015}),
            deployment("dall-e-3", "openai/dall-e-3", o, model_info={"output_cost_per_image": 0.04}),
            deployment("gpt-image-1", "openai/gpt-image-1", o),
            deployment("reranker", "cohere/rerank-v3.5", fake.cohere_base, "COHERE_API_KEY",
                       model_info={"input_cost_per_query": 0.002}),
            deployment("local-rerank", "openai/bge-reranker-v2-m3", o),
            deployment("gpt-4o", "openai/gpt-4o", o),
            deployment("or-image", "openrouter/google/gemini-2.5-flash-image", fake.openrouter_base,
                       "OPENROUTER_API_KEY", model_info={"mode": "image_generation"}),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, "allowed_fails": 1000,
                            "fallbacks": [{"stt-fails": ["whisper-1"]}]},
        "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
    }


@pytest.fixture(scope="module")
def gw(fake, tmp_path_factory):
    env = {**KEYS, "COHERE_API_KEY": "co-canary-2b7d"}
    with Gateway(media_config(fake), tmp_path_factory.mktemp("media"), env=env) as gateway:
        yield gateway


def test_transcription_is_billed_by_the_second(gw, upstream):
    raw = gw.openai().audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("hello.wav", wav_bytes(2.0), "audio/wav"))
    assert "2.0" in raw.parse().text
    sent = upstream.requests[-1]
    assert sent.path == "/v1/audio/transcriptions" and sent.json["model"] == "whisper-1"
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "transcriptions" and row["billed_unit"] == "seconds"
    assert row["billed_quantity"] == 2 and float(row["cost"]) == pytest.approx(0.0002)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt", "verbose_json"])
def test_transcription_formats_pass_through(gw, fmt):
    answer = gw.openai().audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav_bytes(1.0), "audio/wav"), response_format=fmt)
    text = answer if isinstance(answer, str) else answer.text
    assert "1.0" in text


def test_translation_and_fallback(gw):
    raw = gw.openai().audio.translations.with_raw_response.create(
        model="stt-fails", file=("b.wav", wav_bytes(1.5), "audio/wav"))
    assert raw.parse().text
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "translations" and row["fallback_from"] == "stt-fails"


def test_repeated_transcriptions_hit_the_cache(gw, upstream):
    audio = wav_bytes(3.0)
    hits = [gw.openai().audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("c.wav", audio, "audio/wav")).headers["x-rin-cache-hit"] for _ in range(2)]
    assert hits == ["false", "true"]


@pytest.mark.parametrize("bad,param", [
    (b"not audio at all", "file"), (b"", "file"), (b"RIFF\x00\x00\x00\x00WAVEjunk", "file")])
def test_bad_uploads_are_refused_before_any_call(gw, upstream, bad, param):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().audio.transcriptions.create(model="whisper-1", file=("x.wav", bad, "audio/wav"))
    assert caught.value.param == param and upstream.total == before


def test_a_truncated_multipart_body_is_a_400(gw, upstream):
    body = b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--xyz\r\nContent-Disp'
    status, _, answer = gw.request("POST", "/v1/audio/transcriptions", raw=body,
                                   headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert status == 400 and "cut short" in orjson.loads(answer)["error"]["message"]


def test_speech_streams_audio_and_bills_characters(gw, upstream):
    text = "Hello from RIN, spoken aloud."
    with gw.openai().audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=text, response_format="wav") as resp:
        chunks = list(resp.iter_bytes())
        headers = resp.headers
    audio = b"".join(chunks)
    assert audio[:4] == b"RIFF" and headers["content-type"].startswith("audio/")
    [row] = rows_for(gw, headers["x-rin-request-id"])
    assert row["endpoint"] == "speech" and row["billed_unit"] == "characters"
    assert row["billed_quantity"] == len(text) and float(row["cost"]) == pytest.approx(len(text) * 0.000015)


def test_an_unknown_voice_is_refused_before_any_call(gw, upstream):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().audio.speech.create(model="tts-1", voice="nobody", input="hi")  # type: ignore[arg-type]
    assert caught.value.param == "voice" and "alloy" in caught.value.message and upstream.total == before


def test_image_generation_per_image_and_per_token(gw, upstream):
    raw = gw.openai().images.with_raw_response.generate(model="dall-e-3", prompt="a red fox", size="1024x1024")
    assert raw.parse().data[0].url or raw.parse().data[0].b64_json
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "images" and row["billed_unit"] == "images" and row["billed_quantity"] == 1
    assert float(row["cost"]) == pytest.approx(0.04)
    raw = gw.openai().images.with_raw_response.generate(model="gpt-image-1", prompt="a blue fox")
    assert raw.parse().data[0].b64_json
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["prompt_tokens"] > 0 and float(row["cost"]) > 0  # gpt-image-1 reports tokens: priced by them


def test_a_size_the_model_does_not_offer_is_refused_before_any_call(gw, upstream):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().images.generate(model="dall-e-3", prompt="x", size="256x256")  # type: ignore[arg-type]
    assert caught.value.param == "size" and upstream.total == before


@pytest.mark.parametrize("model", ["reranker", "local-rerank"])
def test_rerank_in_coheres_shape(gw, upstream, model):
    status, headers, body = gw.request("POST", "/v1/rerank", {
        "model": model, "query": "red fox", "documents": ["a red fox", "a blue whale", "the fox is red"],
        "top_n": 2, "return_documents": True})
    assert status == 200, body
    answer = orjson.loads(body)
    assert len(answer["results"]) == 2 and answer["results"][0]["document"]["text"] in ("a red fox", "the fox is red")
    assert answer["meta"]["billed_units"]["search_units"] >= 1
    [row] = rows_for(gw, headers["x-rin-request-id"])
    assert row["endpoint"] == "rerank"
    if model == "reranker":
        assert upstream.requests[-1].path == "/cohere/v2/rerank" and float(row["cost"]) == pytest.approx(0.002)


def test_modes_are_enforced_both_ways(gw, upstream):
    before = upstream.total
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().chat.completions.create(model="tts-1", messages=[{"role": "user", "content": "hi"}])
    assert "audio_speech" in caught.value.message and caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        gw.openai().audio.speech.create(model="gpt-4o", voice="alloy", input="hi")
    assert "chat model" in caught.value.message
    assert upstream.total == before
    models = {m["id"]: m for m in orjson.loads(gw.request("GET", "/v1/models")[2])["data"]}
    assert models["tts-1"]["mode"] == "audio_speech" and models["whisper-1"]["mode"] == "audio_transcription"
    assert models["dall-e-3"]["mode"] == "image_generation" and models["gpt-4o"]["mode"] == "chat"


def test_every_media_row_is_in_the_ledger_once(gw):
    rows = ledger_rows(gw)
    ids = [r["request_id"] for r in rows]
    assert len(ids) == len(set(ids))


def test_an_upload_over_25_mb_is_a_413_and_nothing_is_billed(gw, upstream):
    before, rows = upstream.total, len(ledger_rows(gw))
    with pytest.raises(openai.APIStatusError) as caught:
        gw.openai().audio.transcriptions.create(model="whisper-1",
                                                file=("big.wav", b"RIFF" + b"\x00" * (26 * 1024 * 1024), "audio/wav"))
    assert caught.value.status_code == 413 and "limit" in caught.value.message
    assert upstream.total == before and len(ledger_rows(gw)) == rows


def test_budgets_reserve_a_media_requests_worst_case_before_the_call(fake, tmp_path, upstream):
    config = media_config(fake)
    config["general_settings"] = {"master_key": "sk-master-media"}
    with Gateway(config, tmp_path, env={**KEYS, "COHERE_API_KEY": "co-x"}, api_key="sk-master-media") as gw:
        status, _, body = gw.request("POST", "/key/generate", {"max_budget": 0.0005})
        assert status == 200, body
        c = gw.openai(api_key=orjson.loads(body)["key"])
        c.audio.speech.create(model="tts-1", voice="alloy", input="short").read()  # 5 characters: fits
        before = upstream.total
        with pytest.raises(openai.RateLimitError) as caught:  # 40 characters: $0.0006 > what is left
            c.audio.speech.create(model="tts-1", voice="alloy", input="x" * 40)
        assert "budget" in caught.value.message.lower() and upstream.total == before


def test_openrouter_image_models_draw_through_chat(gw, upstream):
    raw = gw.openai().images.with_raw_response.generate(model="or-image", prompt="a green fox")
    image = raw.parse().data[0]
    assert image.b64_json and image.b64_json[:4] == "iVBO"  # a PNG
    sent = upstream.requests[-1]
    assert sent.path.endswith("/chat/completions") and sent.json["modalities"] == ["image", "text"]
    assert sent.json["messages"] == [{"role": "user", "content": "a green fox"}]
    [row] = rows_for(gw, raw.headers["x-rin-request-id"])
    assert row["endpoint"] == "images" and row["billed_unit"] == "images" and float(row["cost"]) > 0


def test_the_upload_limit_comes_from_the_config(fake, tmp_path, upstream):
    config = media_config(fake)
    config["general_settings"] = {"max_upload_size_mb": 1}
    with Gateway(config, tmp_path, env={**KEYS, "COHERE_API_KEY": "co-x"}) as gw:
        with pytest.raises(openai.APIStatusError) as caught:
            gw.openai().audio.transcriptions.create(model="whisper-1", file=("a.wav", wav_bytes(70.0), "audio/wav"))
        assert caught.value.status_code == 413 and "max_upload_size_mb" in caught.value.message
        assert gw.openai().audio.transcriptions.create(model="whisper-1", file=("b.wav", wav_bytes(1.0), "audio/wav"))


def test_an_upload_goes_upstream_under_another_model_name_without_chunking(gw, upstream):
    audio = wav_bytes(2.5)
    answer = gw.openai().audio.transcriptions.create(model="speech-to-text", file=("d.wav", audio, "audio/wav"))
    assert "2.5" in answer.text
    sent = upstream.requests[-1]
    assert sent.json["model"] == "whisper-1" and sent.json["file_size"] == len(audio)
    # the pieces of the client's body went out under one Content-Length, not chunked
    assert "transfer-encoding" not in sent.headers and int(sent.headers["content-length"]) > len(audio)
