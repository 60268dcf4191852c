"""Bedrock's errors as RIN's upstream errors, classified by their type.

Bedrock puts the type in the `x-amzn-ErrorType` header
(`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`), in `__type` in some
bodies, and in `:exception-type` inside a stream (there in lower camel case). A prompt too long for
the model has no type of its own: it is a ValidationException whose message says so, the one place
the text decides.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from rin.errors import (
    ErrorTable,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    says_context_overflow,
    typed_upstream_error,
)
from rin.providers.openai import parse_retry_after
from rin.types import Usage

#: Bedrock's error types (bedrock-runtime's API reference) and the status each comes with
ERRORS: ErrorTable = {
    "ValidationException": (UpstreamBadRequest, 400),
    "ConflictException": (UpstreamBadRequest, 400),
    "ResourceNotFoundException": (UpstreamNotFound, 404),
    "ThrottlingException": (UpstreamRateLimited, 429),
    "ServiceQuotaExceededException": (UpstreamRateLimited, 400),
    "ModelNotReadyException": (UpstreamServerError, 429),
    "ModelTimeoutException": (UpstreamTimeout, 408),
    "ModelErrorException": (UpstreamServerError, 424),
    "ModelStreamErrorException": (UpstreamServerError, 424),
    "InternalServerException": (UpstreamServerError, 500),
    "ServiceUnavailableException": (UpstreamServerError, 503),
    # our side: the deployment's credentials or its account's access to the model
    "AccessDeniedException": (UpstreamAuthError, 403),
    "UnrecognizedClientException": (UpstreamAuthError, 403),
    "InvalidSignatureException": (UpstreamAuthError, 403),
    "IncompleteSignatureException": (UpstreamAuthError, 403),
    "MissingAuthenticationTokenException": (UpstreamAuthError, 403),
    "ExpiredTokenException": (UpstreamAuthError, 403),
}
#: how Bedrock's models say a prompt does not fit, beyond the phrases rin.errors knows
_TOO_LONG = ("too many input tokens", "too many tokens", "expected maxlength")


def classify_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """A non-2xx Bedrock answer: `{"message": ...}` with the type in `x-amzn-ErrorType`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else {}
    kind = headers.get("x-amzn-errortype", "").split(":", 1)[0] or str(data.get("__type") or "").rpartition("#")[2]
    said = data.get("message") or data.get("Message")
    if not said:
        said = body[:200].decode("utf-8", "replace").strip() or "no message"
    return error_of(kind, str(said), status, parse_retry_after(headers))


def error_of(kind: str, said: str, status: int | None, retry_after: float | None = None,
             usage: Usage | None = None) -> UpstreamError:
    """An error of Bedrock type `kind` (ThrottlingException, ...). `status` is None inside a
    stream, where the type's usual status is reported."""
    overflow = kind == "ValidationException" and (
        says_context_overflow(said) or any(p in said.lower() for p in _TOO_LONG))
    return typed_upstream_error(
        ERRORS, kind, said, status, unknown_status=500, returned="Bedrock returned", overflow=overflow,
        refused=("AWS refused the credentials configured for this Bedrock model ({detail}); check the "
                 "deployment's AWS keys, profile or role, and its access to the model."),
        retry_after=retry_after, usage=usage)
