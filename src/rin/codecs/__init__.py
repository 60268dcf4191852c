"""Endpoints as codecs over the one request pipeline (see base.py and ARCHITECTURE.md).

`CODEC_ROUTES` maps each model endpoint's path to its codec; rin.server.app serves them all with
one handler.
"""

from __future__ import annotations

from rin.codecs.base import Codec
from rin.codecs.completions import CompletionsCodec
from rin.codecs.embeddings import EmbeddingsCodec
from rin.codecs.images import ImageEditsCodec, ImagesCodec
from rin.codecs.media import SpeechCodec, TranscriptionCodec
from rin.codecs.messages import MessagesCodec
from rin.codecs.rerank import RerankCodec
from rin.codecs.responses import ResponsesCodec

__all__ = ["CODEC_ROUTES", "CHAT", "MESSAGES", "RESPONSES", "Codec"]

CHAT = Codec()
MESSAGES = MessagesCodec()
RESPONSES = ResponsesCodec()

CODEC_ROUTES: dict[str, Codec] = {}
for _codec, _paths in (
    (CHAT, ("/v1/chat/completions", "/chat/completions")),
    (EmbeddingsCodec(), ("/v1/embeddings", "/embeddings")),
    (MESSAGES, ("/v1/messages", "/messages")),
    (RESPONSES, ("/v1/responses", "/responses")),
    (CompletionsCodec(), ("/v1/completions", "/completions")),
    (TranscriptionCodec("transcriptions"), ("/v1/audio/transcriptions", "/audio/transcriptions")),
    (TranscriptionCodec("translations"), ("/v1/audio/translations", "/audio/translations")),
    (SpeechCodec(), ("/v1/audio/speech", "/audio/speech")),
    (ImagesCodec(), ("/v1/images/generations", "/images/generations")),
    (ImageEditsCodec(), ("/v1/images/edits", "/images/edits")),
    (RerankCodec(), ("/v1/rerank", "/rerank", "/v2/rerank")),
):
    for _path in _paths:
        CODEC_ROUTES[_path] = _codec
