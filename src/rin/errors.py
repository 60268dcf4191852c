"""Every error RIN can hand to a client, as one tree.

    RinError                      status  error.type
    ├── InvalidRequest             400    invalid_request_error
    │   └── CapabilityError        400    invalid_request_error  (image/tools to a model without them)
    ├── AuthenticationFailed       401    invalid_request_error  (code invalid_api_key)
    ├── PermissionDenied           403    permission_error
    ├── ModelNotFound              404    invalid_request_error  (code model_not_found)
    ├── RouteNotFound              404    invalid_request_error
    ├── MethodNotAllowed           405    invalid_request_error
    ├── RequestTimeout             408    invalid_request_error  (the body came too slowly)
    ├── PayloadTooLarge            413    invalid_request_error
    ├── BudgetExceeded             429    insufficient_quota
    ├── RateLimited                429    rate_limit_error       (RIN's own limits)
    ├── NoDeploymentAvailable      503    service_unavailable
    ├── ServiceUnavailable         503    service_unavailable
    └── UpstreamError              from the provider; carries `retryable` and `retry_after`
        ├── UpstreamBadRequest     400    (never retried)
        │   ├── ContextWindowExceeded   400  (→ context_window_fallbacks)
        │   └── ContentPolicyViolation  400  (→ content_policy_fallbacks)
        ├── UpstreamAuthError      401/403 → 502 to the client (our key is wrong, not theirs)
        │   └── CredentialRefreshFailed 401 (a token RIN fetches could not be refreshed: cools at once)
        ├── UpstreamNotFound       404    (model unknown upstream)
        ├── UpstreamRateLimited    429    (retry_after from Retry-After)
        ├── UpstreamServerError    5xx / 529, retryable
        ├── UpstreamTimeout        504, retryable
        ├── UpstreamConnectionError 502, retryable
        └── UpstreamProtocolError  502, retryable (garbage where JSON or SSE was expected)

Foreign exceptions (aiohttp, asyncio, OS) become these in exactly one place: `rin.transport`.
Upstream HTTP errors are classified by status code and structured body in the adapters'
`classify_error`, never by message text. The app renders any of them to the client: in the route's
protocol (`rin.server.pipeline.send_codec_error`), else in OpenAI's shape (`rin.asgi.send_error`).
"""

from __future__ import annotations

from typing import Any


class RinError(Exception):
    status: int = 500
    type: str = "internal_error"
    code: str | None = None
    #: seconds after which a retry may succeed: the Retry-After of a 429 or 503 (None: not known)
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after

    def to_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(RinError):
    status = 400
    type = "invalid_request_error"


class CapabilityError(InvalidRequest):
    code = "unsupported_capability"


class AuthenticationFailed(RinError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(RinError):
    status = 403
    type = "permission_error"


class ModelNotFound(RinError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RouteNotFound(RinError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(RinError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(RinError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class PayloadTooLarge(RinError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class BudgetExceeded(RinError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class RateLimited(RinError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class NoDeploymentAvailable(RinError):
    status = 503
    type = "service_unavailable"
    code = "no_deployment_available"


class ServiceUnavailable(RinError):
    status = 503
    type = "service_unavailable"
    code = "service_unavailable"


class UpstreamError(RinError):
    """An attempt at a provider failed. The router decides what to do from the class."""

    status = 502
    type = "upstream_error"
    retryable = False
    #: whether the failure says something about the deployment's health (cooldowns)
    counts_against_deployment = True

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        usage: Any = None,
    ) -> None:
        super().__init__(message, param=param, code=code, status=status)
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        self.usage = usage


class UpstreamBadRequest(UpstreamError):
    status = 400
    type = "invalid_request_error"
    counts_against_deployment = False


class ContextWindowExceeded(UpstreamBadRequest):
    code = "context_length_exceeded"


class ContentPolicyViolation(UpstreamBadRequest):
    code = "content_policy_violation"


class UpstreamAuthError(UpstreamError):
    status = 502
    type = "upstream_auth_error"


class CredentialRefreshFailed(UpstreamAuthError):
    """A credential RIN refreshes itself (Google / AWS / Entra ID tokens) has no usable value: the
    deployment is cooled at once and the client told which credential, never its value."""

    status = 401
    type = "authentication_error"
    code = "upstream_credential_refresh_failed"


class UpstreamNotFound(UpstreamError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    retryable = True


class UpstreamServerError(UpstreamError):
    status = 502
    type = "upstream_error"
    retryable = True


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout"
    retryable = True


class UpstreamConnectionError(UpstreamError):
    status = 502
    type = "upstream_connection_error"
    retryable = True


class UpstreamProtocolError(UpstreamError):
    status = 502
    type = "upstream_protocol_error"
    retryable = True


#: how providers say a prompt does not fit, in a 400 without OpenAI's `context_length_exceeded` code:
#: vLLM and OpenRouter ("This model's / endpoint's maximum context length is ..."), Anthropic
#: ("prompt is too long: 208656 tokens > 200000 maximum", "input length and `max_tokens` exceed
#: context limit: ..."), Bedrock-style servers ("Input is too long for requested model")
_CONTEXT_PHRASES = ("maximum context length", "context_length_exceeded", "context length exceeded",
                    "prompt is too long", "exceed context limit", "input is too long")


def says_context_overflow(message: str) -> bool:
    """True when an upstream's 400 message says the prompt is larger than the model's context."""
    text = message.lower()
    return any(phrase in text for phrase in _CONTEXT_PHRASES) or (
        "context window" in text and "exceed" in text)


def upstream_error_for_status(
    status: int, message: str, *, retry_after: float | None = None, code: str | None = None,
    param: str | None = None,
) -> UpstreamError:
    """The default status-code classification shared by every adapter."""
    cls: type[UpstreamError]
    if status == 400 and says_context_overflow(message):
        return ContextWindowExceeded(message, upstream_status=status, param=param)
    if status == 429:
        cls = UpstreamRateLimited
    elif status in (401, 403):
        cls = UpstreamAuthError
    elif status == 404:
        cls = UpstreamNotFound
    elif status in (408,):
        cls = UpstreamTimeout
    elif 400 <= status < 500:
        cls = UpstreamBadRequest
    else:
        cls = UpstreamServerError
    return cls(message, upstream_status=status, retry_after=retry_after, code=code, param=param)


#: a provider's error types: type name -> (the UpstreamError class, the status it usually comes with)
ErrorTable = dict[str, tuple[type[UpstreamError], int]]


def typed_upstream_error(
    table: ErrorTable, kind: str | None, said: str, status: int | None, *, unknown_status: int,
    returned: str, refused: str, overflow: bool, retry_after: float | None = None, usage: Any = None,
) -> UpstreamError:
    """An error a provider names by type (Anthropic's `rate_limit_error`, Bedrock's
    `ThrottlingException`, ...), classified by the provider's `table`. `status` is None inside a
    stream, where the type's usual status (else `unknown_status`) is reported. The message is
    `returned` ("Anthropic returned") and the detail, or for an authentication error `refused`
    with `{detail}` in it; `overflow`: the provider said the prompt exceeds the context window."""
    known = table.get(kind or "")
    upstream_status = status or (known[1] if known else unknown_status)
    detail = f"HTTP {upstream_status} {kind or 'error'}: {said}"
    if known and known[0] is UpstreamAuthError:
        message = refused.format(detail=detail)
    else:
        message = f"{returned} {detail}"
    error: UpstreamError
    if overflow:
        error = ContextWindowExceeded(message, upstream_status=upstream_status)
    elif known:
        error = known[0](message, upstream_status=upstream_status, retry_after=retry_after)
    else:
        error = upstream_error_for_status(upstream_status, message, retry_after=retry_after)
    error.usage = usage
    return error
