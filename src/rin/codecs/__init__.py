"""Endpoints as codecs over the one request pipeline (see base.py and ARCHITECTURE.md).

`PATHS` are the model endpoints' paths; `codec_for(path)` is the codec that serves one. Chat's
codec (the identity, `CHAT`) is built here; every other one is a module named in `_CODECS` and
imported on its endpoint's first request, so a gateway that only ever serves chat never loads the
Anthropic, Responses, media or rerank translations.
"""

from __future__ import annotations

from importlib import import_module

from rin.codecs.base import Codec

__all__ = ["CHAT", "CHAT_PATHS", "Codec", "PATHS", "codec_for", "loaded"]

CHAT = Codec()
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")

#: (module in rin.codecs, class, its argument or None, the paths it serves), for every endpoint but chat
_CODECS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("embeddings", "EmbeddingsCodec", None, ("/v1/embeddings", "/embeddings")),
    ("messages", "MessagesCodec", None, ("/v1/messages", "/messages")),
    ("responses", "ResponsesCodec", None, ("/v1/responses", "/responses")),
    ("completions", "CompletionsCodec", None, ("/v1/completions", "/completions")),
    ("media", "TranscriptionCodec", "transcriptions", ("/v1/audio/transcriptions", "/audio/transcriptions")),
    ("media", "TranscriptionCodec", "translations", ("/v1/audio/translations", "/audio/translations")),
    ("media", "SpeechCodec", None, ("/v1/audio/speech", "/audio/speech")),
    ("images", "ImagesCodec", None, ("/v1/images/generations", "/images/generations")),
    ("images", "ImageEditsCodec", None, ("/v1/images/edits", "/images/edits")),
    ("rerank", "RerankCodec", None, ("/v1/rerank", "/rerank", "/v2/rerank")),
)
_WHERE = {path: entry for entry in _CODECS for path in entry[3]}

#: every model endpoint's path
PATHS: frozenset[str] = frozenset(CHAT_PATHS) | frozenset(_WHERE)

_loaded: dict[str, Codec] = dict.fromkeys(CHAT_PATHS, CHAT)


def codec_for(path: str) -> Codec | None:
    """The codec serving `path` (its module imported now if this is its first use); None when
    `path` is not a model endpoint. One instance per endpoint, shared by its paths."""
    codec = _loaded.get(path)
    if codec is None and (entry := _WHERE.get(path)) is not None:
        module, name, argument, paths = entry
        cls = getattr(import_module(f"{__name__}.{module}"), name)
        codec = cls() if argument is None else cls(argument)
        _loaded.update(dict.fromkeys(paths, codec))
    return codec


def loaded(path: str) -> Codec | None:
    """The codec serving `path` if it was already imported (chat's always is), without importing."""
    return _loaded.get(path)
