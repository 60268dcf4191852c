"""Google Vertex AI's wire formats, and Google's OAuth token endpoint that service accounts use.

Routes (upstream.py) under `/vertex/v1/projects/{project}/locations/{location}/publishers/...`:
`google/models/{model}:generateContent`, `:streamGenerateContent?alt=sse` (Gemini's bodies,
gemini_fmt.py) and `:predict` (embeddings: `{"instances": [{"content"}], "parameters":
{"outputDimensionality"}}` -> `{"predictions": [{"embeddings": {"values", "statistics": {"token_count",
"truncated"}}}]}`); `anthropic/models/{model}:rawPredict` / `:streamRawPredict` (Anthropic's Messages
bodies, anthropic_fmt.py, with `anthropic_version: "vertex-2023-10-16"` in the body and the model in
the URL).

Every call needs `Authorization: Bearer <token>` with a token `/google/token` issued and not yet
expired, for the cloud-platform scope; else Google's 401 UNAUTHENTICATED (reasons
CREDENTIALS_MISSING, ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_TYPE_UNSUPPORTED) or 403
ACCESS_TOKEN_SCOPE_INSUFFICIENT. Errors are Google's envelope (cloud.google.com/vertex-ai/generative-ai/
docs/error-code-429 and the google.rpc codes), except what Claude itself answers (400 invalid requests,
"prompt is too long", 500, 529 overloaded), which Vertex passes through in Anthropic's envelope. A 429
here carries a google.rpc.RetryInfo detail (the fault's seconds) so RIN's Retry-After handling is
exercised; the real Vertex often sends none, and RIN then backs off on its own.

`/google/token` (GoogleOAuth) takes google-auth's JWT-bearer grant
(`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`), checks the RS256 signature
with the public half of a key `service_account()` made, the audience (Google's token URL, whatever the
file's token_uri says) and the times, and answers
`{"access_token", "expires_in", "token_type": "Bearer"}`; `expires_in[email]` sets the lifetime and
`failing` (emails) makes it answer 400 `{"error": "invalid_grant", ...}` as Google does for a
deleted key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .anthropic_fmt import AnthropicFormat
from .answer import tokens
from .faults import Fault
from .gemini_fmt import GeminiFormat, envelope
from .wire import JSON, Reply, dumps

ANTHROPIC_VERSION = "vertex-2023-10-16"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: the audience Google requires in a service account's JWT, whatever its token_uri
AUDIENCE = "https://oauth2.googleapis.com/token"
_JSON_HEADERS = {"Content-Type": JSON + "; charset=UTF-8"}
_MISSING = ("Request is missing required authentication credential. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.")
_INVALID = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.")
_STATUS_ERRORS = {  # status -> (google.rpc status, message), as aiplatform.googleapis.com words them
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", _INVALID),
    403: ("PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource "
                               "'//aiplatform.googleapis.com/projects/rin-test/locations/us-central1/publishers/"
                               "google/models/x' (or it may not exist)."),
    404: ("NOT_FOUND", "Publisher Model `projects/rin-test/locations/us-central1/publishers/google/models/x` "
                       "not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. Please refer to "
                                "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more "
                                "details."),
    500: ("INTERNAL", "Internal error encountered."),
    502: ("UNAVAILABLE", "The service is currently unavailable."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    529: ("UNAVAILABLE", "The service is currently unavailable."),
}


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Token:
    email: str
    expires_at: float  # time.time()
    scope: str


@dataclass
class GoogleOAuth:
    """The token endpoint: service accounts, their public keys, the tokens issued."""

    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    #: token lifetime in seconds, by client_email (Google's usual 3599 otherwise)
    expires_in: dict[str, int] = field(default_factory=dict)
    #: client_emails whose key no longer works: the exchange answers invalid_grant
    failing: set[str] = field(default_factory=set)
    tokens: dict[str, Token] = field(default_factory=dict)
    #: (client_email, access token) in the order issued
    issued: list[tuple[str, str]] = field(default_factory=list)
    #: client_emails of the exchanges refused because they were `failing`, in order
    refused: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def service_account(self, token_uri: str, project_id: str = "rin-test", name: str = "rin") -> dict:
        """A new service account's JSON key file (as the Cloud console downloads it), whose
        `token_uri` is this endpoint; its public key is kept to check the JWTs it signs."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"{name}-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
        self.keys[email] = key.public_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        return {
            "type": "service_account", "project_id": project_id, "private_key_id": secrets.token_hex(20),
            "private_key": pem, "client_email": email, "client_id": str(secrets.randbelow(10**21)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def latest(self, email: str) -> str | None:
        return next((t for e, t in reversed(self.issued) if e == email), None)

    def count(self, email: str) -> int:
        return sum(1 for e, _ in self.issued if e == email)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Blocks until `done()` holds after an exchange (True) or `timeout` seconds pass (False)."""
        with self.changed:
            return self.changed.wait_for(done, timeout)

    def exchange(self, raw: bytes) -> Reply:
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_BEARER:
            return _grant_error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        try:
            head, body, signature = form.get("assertion", "").split(".")
            header, claims = orjson.loads(_b64url(head)), orjson.loads(_b64url(body))
            sig = _b64url(signature)
        except ValueError:
            return _grant_error("invalid_grant", "Invalid JWT: malformed assertion.")
        email = claims.get("iss") if isinstance(claims, dict) else None
        key = self.keys.get(email) if isinstance(email, str) else None
        if key is None or header.get("alg") != "RS256":
            return _grant_error("invalid_grant", "Invalid grant: account not found")
        try:
            key.verify(sig, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return _grant_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        if claims.get("aud") != AUDIENCE or not claims.get("iat", 0) - 300 <= now < claims.get("exp", 0):
            return _grant_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                                                 "a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if email in self.failing:
            with self.changed:
                self.refused.append(email)
                self.changed.notify_all()
            return _grant_error("invalid_grant", "Invalid JWT Signature.")
        lifetime = self.expires_in.get(email, 3599)
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        self.tokens[token] = Token(email, now + lifetime, str(claims.get("scope") or ""))
        with self.changed:
            self.issued.append((email, token))
            self.changed.notify_all()
        return Reply(200, dumps({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}),
                     dict(_JSON_HEADERS))

    def auth_error(self, headers: object) -> Reply | None:
        """Vertex's answer to a call whose bearer token is missing, unknown, expired or unscoped."""
        value = headers.get("Authorization") or ""  # type: ignore[attr-defined]
        if not value.startswith("Bearer "):
            return _unauthenticated(_MISSING, "CREDENTIALS_MISSING")
        token = self.tokens.get(value[len("Bearer "):])
        if token is None:
            return _unauthenticated(_INVALID, "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        if token.expires_at <= time.time():
            return _unauthenticated(_INVALID, "ACCESS_TOKEN_EXPIRED")
        if SCOPE not in token.scope.split():
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com", "metadata": {"service": "aiplatform.googleapis.com"}}]
            return Reply(403, envelope(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                                       details), dict(_JSON_HEADERS))
        return None


def _grant_error(error: str, description: str) -> Reply:
    return Reply(400, dumps({"error": error, "error_description": description}), dict(_JSON_HEADERS))


def _unauthenticated(message: str, reason: str) -> Reply:
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com",
                             "method": "google.cloud.aiplatform.v1.PredictionService.GenerateContent"}}]
    return Reply(401, envelope(401, "UNAUTHENTICATED", message, details), dict(_JSON_HEADERS))


def google_error(fault: Fault) -> Reply:
    """A status fault in Google's envelope, as aiplatform.googleapis.com sends it."""
    code = fault.status if fault.status in _STATUS_ERRORS else 500
    status, message = _STATUS_ERRORS[code]
    details = None
    if code == 429:
        details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{fault.retry_after}s"}]
    return Reply(code, envelope(code, status, message, details), dict(_JSON_HEADERS))


def vector(text: str, dims: int) -> list[float]:
    """A deterministic unit-ish vector for `text`."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims * 2 // len(seed) + 1))[: dims * 2]
    return [round(v / 65535 - 0.5, 6) for v in struct.unpack(f">{dims}H", raw)]


class VertexGeminiFormat(GeminiFormat):
    """Gemini on Vertex AI: the Gemini API's bodies, Vertex's auth and error wording, and predict."""

    name = "vertex_ai"

    def __init__(self, oauth: GoogleOAuth | None = None) -> None:
        self.oauth = oauth or GoogleOAuth()

    def auth_error(self, headers: object) -> Reply | None:
        return self.oauth.auth_error(headers)

    def error(self, fault: Fault, model: str) -> Reply:
        if fault.kind != "status":  # ctx-overflow, content-policy: as the Gemini API
            return super().error(fault, model)
        return google_error(fault)

    def validate_predict(self, body: dict | None) -> Reply | None:
        instances = body.get("instances") if body is not None else None
        if not isinstance(instances, list) or not instances:
            return self.bad_request("Invalid JSON payload received. 'instances' must be a non-empty list.")
        if not all(isinstance(i, dict) and isinstance(i.get("content"), str) for i in instances):
            return self.bad_request("Each instance needs a 'content' string.")
        return None

    def predict(self, body: dict) -> Reply:
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 768
        predictions, chars = [], 0
        for instance in body["instances"]:
            text = instance["content"]
            chars += len(text)
            stats = {"token_count": tokens(len(text)), "truncated": False}
            predictions.append({"embeddings": {"values": vector(text, int(dims)), "statistics": stats}})
        return self.reply(200, dumps({"predictions": predictions, "metadata": {"billableCharacterCount": chars}}))


class VertexClaudeFormat(AnthropicFormat):
    """Claude on Vertex AI: Anthropic's bodies without `model`, `anthropic_version` in the body,
    Google's auth and quota errors, Anthropic's own errors for the rest."""

    name = "vertex_ai"

    def __init__(self, oauth: GoogleOAuth | None = None) -> None:
        self.oauth = oauth or GoogleOAuth()

    def auth_error(self, headers: object) -> Reply | None:
        return self.oauth.auth_error(headers)

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        if body is None:
            return self.envelope(400, "invalid_request_error", "There was an issue with your request body: invalid JSON")
        if body.get("anthropic_version") != ANTHROPIC_VERSION:
            return self.envelope(400, "invalid_request_error", f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
        for name in ("messages", "max_tokens"):
            if name not in body:
                return self.envelope(400, "invalid_request_error", f"{name}: Field required")
        return self.check_thinking(body)

    def error(self, fault: Fault, model: str) -> Reply:
        if fault.kind == "status" and fault.status in (401, 403, 404, 429):  # Vertex's own answers
            return google_error(fault)
        return super().error(fault, model)

    def not_found(self, method: str, path: str) -> Reply:
        return google_error(Fault("status", status=404))
