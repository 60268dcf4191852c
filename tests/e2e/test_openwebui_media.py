"""A real Open WebUI 0.12.4 with its speech-to-text, text-to-speech, image and RAG embedding engines
pointed at `rin serve` (by environment, as README's "Open WebUI: voice, images and documents through
RIN" table gives it), driven through Open WebUI's own API: each call reaches the fake upstream through
RIN and leaves a ledger row billed by its own quantity.

Open WebUI is installed once into a cache outside the repo (tests/openwebui_runner.py); when that is
impossible (no ../shared/tools/openwebui, registry unreachable) the tests SKIP with the reason, even
with RIN_REQUIRE_SERVICES=1, since Open WebUI is an optional client. RIN_SKIP_OPENWEBUI=1 skips them.
"""

from __future__ import annotations

import io
import os
import time
import wave
from typing import Any, Callable

import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway
from tests.openwebui_runner import OpenWebUI, install

if os.environ.get("RIN_SKIP_OPENWEBUI") == "1":
    pytest.skip("RIN_SKIP_OPENWEBUI=1", allow_module_level=True)

MASTER = "sk-rin-openwebui-media"
ADMIN = "admin@localhost"  # the single user of an Open WebUI started with WEBUI_AUTH=false
WAIT = 10.0  # seconds for a ledger row to show after the call that wrote it


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def rin_config(fake: Any) -> dict[str, Any]:
    o = fake.openai_base
    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o", o),
            deployment("whisper-1", "openai/whisper-1", o, model_info={"input_cost_per_second": 0.0001}),
            deployment("tts-1", "openai/tts-1", o, model_info={"input_cost_per_character": 0.000015}),
            deployment("dall-e-3", "openai/dall-e-3", o, model_info={"output_cost_per_image": 0.04}),
            deployment("text-embedding-3-small", "openai/text-embedding-3-small", o,
                       model_info={"mode": "embedding", "input_cost_per_token": 0.00000002}),
        ],
        "router_settings": {"num_retries": 0, "timeout": 30, "allowed_fails": 1000},
        "general_settings": {"master_key": MASTER, "user_header_name": "X-OpenWebUI-User-Email"},
        "catalog": {"enabled": False},
    }


def openwebui_env(rin: Gateway) -> dict[str, str]:
    """Open WebUI 0.12.4's own variable names (open_webui/config.py); the chat connection comes from
    start-openwebui.sh's GATEWAY_URL / GATEWAY_KEY."""
    v1 = rin.base_url + "/v1"
    return {
        "ENABLE_TITLE_GENERATION": "false", "ENABLE_TAGS_GENERATION": "false",
        "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ENABLE_FORWARD_USER_INFO_HEADERS": "true",  # spend is then attributed to the Open WebUI user
        "AUDIO_STT_ENGINE": "openai", "AUDIO_STT_OPENAI_API_BASE_URL": v1, "AUDIO_STT_OPENAI_API_KEY": MASTER,
        "AUDIO_STT_MODEL": "whisper-1",
        "AUDIO_TTS_ENGINE": "openai", "AUDIO_TTS_OPENAI_API_BASE_URL": v1, "AUDIO_TTS_OPENAI_API_KEY": MASTER,
        "AUDIO_TTS_MODEL": "tts-1", "AUDIO_TTS_VOICE": "alloy",
        "ENABLE_IMAGE_GENERATION": "true", "IMAGE_GENERATION_ENGINE": "openai",
        "IMAGES_OPENAI_API_BASE_URL": v1, "IMAGES_OPENAI_API_KEY": MASTER, "IMAGE_GENERATION_MODEL": "dall-e-3",
        # Open WebUI's default IMAGE_SIZE is 512x512, which dall-e-3 does not offer (RIN refuses it with
        # a 400 before any upstream call, as OpenAI would): the admin picks a size the model has
        "IMAGE_SIZE": "1024x1024",
        "RAG_EMBEDDING_ENGINE": "openai", "RAG_OPENAI_API_BASE_URL": v1, "RAG_OPENAI_API_KEY": MASTER,
        "RAG_EMBEDDING_MODEL": "text-embedding-3-small", "BYPASS_EMBEDDING_AND_RETRIEVAL": "false",
    }


@pytest.fixture(scope="session")
def openwebui_install():
    return install()


@pytest.fixture(scope="module")
def rin(fake, tmp_path_factory):
    with Gateway(rin_config(fake), tmp_path_factory.mktemp("rin-owui-media"), env=KEYS, api_key=MASTER) as gw:
        yield gw


@pytest.fixture(scope="module")
def owui(openwebui_install, rin, tmp_path_factory):
    with OpenWebUI(openwebui_install, tmp_path_factory.mktemp("owui-media"), rin.base_url + "/v1", MASTER,
                   env=openwebui_env(rin)) as webui:
        yield webui


def ledger(rin: Gateway) -> list[dict]:
    status, _, body = rin.request("GET", "/spend/logs?limit=1000")
    assert status == 200, body
    return orjson.loads(body)


def new_rows(rin: Gateway, before: set[str], endpoint: str, timeout: float = WAIT) -> list[dict]:
    """Ledger rows of `endpoint` not among the request ids `before`, once at least one has been written."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in ledger(rin) if r["request_id"] not in before and r.get("endpoint") == endpoint]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def seen(rin: Gateway) -> set[str]:
    return {r["request_id"] for r in ledger(rin)}


def upstream_calls(fake: Any, path: str, since: float) -> list[Any]:
    return [r for r in list(fake.requests) if r.path == path and r.time >= since]


def explain(owui: OpenWebUI, rin: Gateway, fake: Any, since: float) -> str:
    """What each side did, for a failure message."""
    calls = [(r.path, r.model) for r in list(fake.requests) if r.time >= since]
    return (f"\nupstream calls since the request: {calls}\n--- RIN log (tail) ---\n"
            f"{rin.log()[-3000:]}\n--- Open WebUI log (tail) ---\n{owui.log(40)}")


def call(owui: OpenWebUI, rin: Gateway, fake: Any, send: Callable[[], tuple[int, dict, bytes]]):
    before, since = seen(rin), time.monotonic()
    status, headers, body = send()
    assert status == 200, f"Open WebUI answered {status}: {body[:800]!r}" + explain(owui, rin, fake, since)
    return before, since, headers, body


def test_transcription_through_open_webui(owui, rin, fake):
    audio = wav_bytes(2.0)
    before, since, _, body = call(owui, rin, fake, lambda: owui.upload(
        "/api/v1/audio/transcriptions", {}, {"file": ("voice-note.wav", audio, "audio/wav")}))
    answer = orjson.loads(body)
    assert "2.0" in answer["text"]  # the fake transcribes a file as its duration
    [sent] = upstream_calls(fake, "/v1/audio/transcriptions", since)
    assert sent.json["model"] == "whisper-1" and sent.json["file_size"] == len(audio)
    [row] = new_rows(rin, before, "transcriptions")
    assert row["model"] == "whisper-1" and row["status"] == "success", row
    assert row["billed_unit"] == "seconds" and row["billed_quantity"] == 2
    assert float(row["cost"]) == pytest.approx(0.0002)
    assert row["user"] == ADMIN


def test_speech_through_open_webui(owui, rin, fake):
    text = "Hello from Open WebUI, spoken by RIN."
    before, since, headers, body = call(owui, rin, fake, lambda: owui.request(
        "POST", "/api/v1/audio/speech", {"input": text, "voice": "alloy"}))
    assert body and headers["content-type"].startswith("audio/")
    [sent] = upstream_calls(fake, "/v1/audio/speech", since)
    assert sent.json["model"] == "tts-1" and sent.json["voice"] == "alloy" and sent.json["input"] == text
    [row] = new_rows(rin, before, "speech")
    assert row["model"] == "tts-1" and row["status"] == "success", row
    assert row["billed_unit"] == "characters" and row["billed_quantity"] == len(text)
    assert float(row["cost"]) == pytest.approx(len(text) * 0.000015)
    assert row["user"] == ADMIN


def test_image_through_open_webui(owui, rin, fake):
    before, since, _, body = call(owui, rin, fake, lambda: owui.request(
        "POST", "/api/v1/images/generations", {"prompt": "a red fox in the snow"}, timeout=120))
    [image] = orjson.loads(body)  # Open WebUI stores the picture and answers with its own file URL
    assert image["url"]
    [sent] = upstream_calls(fake, "/v1/images/generations", since)
    assert sent.json["model"] == "dall-e-3" and sent.json["prompt"] == "a red fox in the snow"
    assert sent.json["size"] == "1024x1024"
    [row] = new_rows(rin, before, "images")
    assert row["model"] == "dall-e-3" and row["status"] == "success", row
    assert row["billed_unit"] == "images" and row["billed_quantity"] == 1
    assert float(row["cost"]) == pytest.approx(0.04)
    assert row["user"] == ADMIN
    status, _, png = owui.request("GET", image["url"].removeprefix(owui.base_url))
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_document_embeddings_through_open_webui(owui, rin, fake):
    content = "RIN routes Open WebUI's document embeddings like any other call."
    before, since, _, body = call(owui, rin, fake, lambda: owui.request(
        "POST", "/api/v1/retrieval/process/text", {"name": "note.txt", "content": content}, timeout=120))
    assert orjson.loads(body)["status"] is True
    sent = upstream_calls(fake, "/v1/embeddings", since)
    assert sent and all(r.json["model"] == "text-embedding-3-small" for r in sent)
    rows = new_rows(rin, before, "embeddings")
    assert rows and all(r["model"] == "text-embedding-3-small" and r["status"] == "success" for r in rows)
    assert sum(r["prompt_tokens"] for r in rows) > 0


def test_a_size_the_image_model_lacks_is_refused_by_rin_before_any_upstream_call(owui, rin, fake):
    """What an Open WebUI left at its default image size (512x512) gets from dall-e-3 or gpt-image-1:
    RIN's 400 (Open WebUI shows only "Bad Request"), no upstream call, an unbilled error row."""
    before, since = seen(rin), time.monotonic()
    status, _, body = owui.request("POST", "/api/v1/images/generations", {"prompt": "a small fox", "size": "512x512"})
    assert status == 400, body
    assert upstream_calls(fake, "/v1/images/generations", since) == []
    [row] = new_rows(rin, before, "images")
    assert row["status"] == "error" and float(row["cost"]) == 0 and row["billed_quantity"] is None
