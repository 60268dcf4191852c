"""Cache keys: which requests may share an answer.

A key is sha256 over a canonical encoding (orjson, keys sorted at every depth) of the caller's
scope, the requested model group, and every request field except the few known not to change what
the model writes. Anything unknown is in the key: a new OpenAI parameter can cost a miss, never a
wrong answer.

`stream` is in the key: a streamed request and a JSON request keep separate entries, each replayed
byte for byte as the upstream produced it (no conversion between chunk and message shapes).
`stream_options` is not: the usage chunk is stored apart and replayed only to clients that ask.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

PREFIX = "rin:cache:"
DEFAULT_NAMESPACE = "default"
#: what a namespace may look like: it is part of a Redis key, so no separators or spaces
NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")

#: request fields that never change what the model writes. `model` is replaced by the resolved
#: model group; `user` is part of the scope (see cache_scope), not of the parameters.
NEUTRAL_FIELDS = frozenset({
    "model", "user", "metadata", "litellm_metadata", "cache", "caching", "stream_options",
    "request_id", "litellm_call_id", "litellm_session_id", "store", "safety_identifier",
    "prompt_cache_key", "prompt_cache_retention", "timeout", "request_timeout", "num_retries",
    "max_retries", "fallbacks", "context_window_fallbacks",
})


def cache_scope(api_key_hash: str | None, user: str | None) -> str:
    """Who may share entries: the same virtual key AND the same end user (or nobody named)."""
    return orjson.dumps([api_key_hash or "anon", user]).decode()


def cache_key(scope: str, model_group: str, body: dict[str, Any], namespace: str | None) -> str:
    """`rin:cache:{namespace}:{sha256 hex}` for this caller, model group and request."""
    fields = {k: v for k, v in body.items() if k not in NEUTRAL_FIELDS}
    fields["stream"] = body.get("stream") is True
    canonical = orjson.dumps([scope, model_group, fields], option=orjson.OPT_SORT_KEYS)
    return f"{PREFIX}{namespace or DEFAULT_NAMESPACE}:{hashlib.sha256(canonical).hexdigest()}"
