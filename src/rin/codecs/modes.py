"""What kind of model a group is (LiteLLM's `model_info.mode`), and refusing a request the model
can't serve (a chat request to a text-to-speech model, or the reverse) before any upstream call."""

from __future__ import annotations

from typing import Any

from rin.errors import InvalidRequest
from rin.types import Deployment

#: every mode LiteLLM names, and what a client calls for each
ENDPOINT_OF_MODE = {
    "chat": "/v1/chat/completions", "completion": "/v1/completions", "responses": "/v1/responses",
    "embedding": "/v1/embeddings", "audio_transcription": "/v1/audio/transcriptions",
    "audio_speech": "/v1/audio/speech", "image_generation": "/v1/images/generations", "rerank": "/v1/rerank",
}

#: well-known model ids whose mode a config need not spell out
_BY_PREFIX = (
    (("whisper", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "distil-whisper"), "audio_transcription"),
    (("tts-", "gpt-4o-mini-tts", "playai-tts"), "audio_speech"),
    (("dall-e", "gpt-image"), "image_generation"),
    (("text-embedding", "embed-", "nomic-embed", "voyage-", "gemini-embedding", "text-multilingual-embedding",
      "amazon.titan-embed", "cohere.embed-"), "embedding"),
    (("rerank", "jina-reranker", "bge-reranker"), "rerank"),
)

#: id(deployment) -> (deployment, mode); the deployment is kept so its id is not reused meanwhile
_inferred: dict[int, tuple[Deployment, str]] = {}


def mode_of(dep: Deployment) -> str:
    """The deployment's mode: model_info.mode when the config set one other than chat, else
    inferred from a well-known model id, else chat. Worked out once per deployment."""
    found = _inferred.get(id(dep))
    if found is not None and found[0] is dep:
        return found[1]
    mode = dep.info.mode
    if mode == "chat":
        name = dep.provider_model.rsplit("/", 1)[-1].lower()
        mode = next((m for prefixes, m in _BY_PREFIX if name.startswith(prefixes)), "chat")
    if len(_inferred) > 10_000:  # many reloads: start over rather than grow
        _inferred.clear()
    _inferred[id(dep)] = (dep, mode)
    return mode


def check_mode(modes: frozenset[str], endpoint: str, config: Any, model: str) -> None:
    """A 400 naming the mode when `model` is a kind of model `endpoint` can't use."""
    deps = config.groups.get(model)
    if not deps:
        return  # the router says the model does not exist
    mode = mode_of(deps[0])
    if mode not in modes:
        where = ENDPOINT_OF_MODE.get(mode, f"the endpoint for mode '{mode}'")
        raise InvalidRequest(
            f"'{model}' is {'an' if mode[:1] in 'aeiou' else 'a'} {mode} model (model_info.mode: {mode}); "
            f"{endpoint} can't use it. "
            f"Call {where} with it, or pick another model.", param="model", code="model_mode_mismatch")
