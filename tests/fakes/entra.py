"""A fake Microsoft Entra ID (Azure AD) token service over TLS on 127.0.0.1, for the client-credentials
flow azure-identity's ClientSecretCredential runs through MSAL.

Entra's wire format, from learn.microsoft.com's "OAuth 2.0 client credentials flow" and OpenID
discovery pages: MSAL first reads the tenant's `GET /{tenant}/v2.0/.well-known/openid-configuration`
(issuer, authorization and token endpoints), then `POST /{tenant}/oauth2/v2.0/token` with a form of
`grant_type=client_credentials`, `client_id`, `client_secret`, `scope`; the answer is
`{"token_type": "Bearer", "expires_in": N, "ext_expires_in": N, "access_token": "..."}`, and a wrong
secret is HTTP 401 `{"error": "invalid_client", "error_description": "AADSTS7000215: ...", "error_codes":
[7000215], ...}`. azure-identity accepts only an https authority, hence TLS: `cert_path` is the PEM of
the self-signed certificate (for IP 127.0.0.1) a client must trust (REQUESTS_CA_BUNDLE / SSL_CERT_FILE).

    with FakeEntra(tmp_path, client_id="app", client_secret="s3cret") as entra:
        entra.authority                  # https://127.0.0.1:PORT  (AZURE_AUTHORITY_HOST)
        entra.tokens                     # access tokens issued, in order
        entra.failing = True             # every token request: 401 invalid_client
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: the scope Azure OpenAI's tokens are for
COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for IP 127.0.0.1 (its own CA), as PEM files in `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-entra.127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "entra-cert.pem", directory / "entra-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class FakeEntra:
    """Issues tokens to one app registration (client_id / client_secret) in any tenant."""

    def __init__(self, directory: Path, client_id: str, client_secret: str, expires_in: int = 3599) -> None:
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.cert_path, key_path = self_signed(directory)
        #: access tokens issued, in order; `issued` is set on each new one
        self.tokens: list[str] = []
        self.issued = threading.Condition()
        #: every request as (method, path, form fields)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        #: when True, every token request is refused as a wrong client secret
        self.failing = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-entra", daemon=True)

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def wait_for_tokens(self, count: int, timeout: float) -> bool:
        """Blocks until `count` tokens were issued (True) or `timeout` seconds passed (False)."""
        with self.issued:
            return self.issued.wait_for(lambda: len(self.tokens) >= count, timeout)

    def __enter__(self) -> FakeEntra:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, form))
        parts = path.split("?")[0].strip("/").split("/")
        tenant = parts[0] if parts else ""
        if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return 200, self._openid_configuration(tenant)
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(form)
        return 404, {"error": "invalid_request", "error_description": f"AADSTS90000: no route {path} (fake)"}

    def _openid_configuration(self, tenant: str) -> dict[str, Any]:
        root = f"{self.authority}/{tenant}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{self.authority}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "tenant_region_scope": "NA",
        }

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, _error("unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type")
        if form.get("client_id") != self.client_id:
            return 400, _error("unauthorized_client", 700016,
                               f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found")
        if self.failing or form.get("client_secret") != self.client_secret:
            return 401, _error("invalid_client", 7000215,
                               "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                               "request is the client secret value, not the client secret ID, for a secret added "
                               f"to app '{self.client_id}'.")
        if form.get("scope") != COGNITIVE_SCOPE:
            return 400, _error("invalid_scope", 1002012, f"AADSTS1002012: The provided value for scope "
                                                         f"{form.get('scope')} is not valid.")
        token = f"entra-token-{len(self.tokens) + 1}-{uuid.uuid4().hex[:8]}"
        with self.issued:
            self.tokens.append(token)
            self.issued.notify_all()
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                     "access_token": token}


def _error(error: str, code: int, description: str) -> dict[str, Any]:
    trace = str(uuid.uuid4())
    return {"error": error, "error_description": f"{description}\r\nTrace ID: {trace}\r\nCorrelation ID: "
            f"{uuid.uuid4()}\r\nTimestamp: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%SZ}",
            "error_codes": [code], "trace_id": trace, "correlation_id": str(uuid.uuid4()),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}"}


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _handler(entra: FakeEntra) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            _send_json(self, *entra.answer(method, self.path, form))

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return None

    return Handler


class FakeManagedIdentity:
    """Azure App Service's managed identity endpoint on 127.0.0.1 (plain HTTP, as App Service's own
    `IDENTITY_ENDPOINT` is a localhost URL), from learn.microsoft.com's "Use managed identities for App
    Service": `GET {IDENTITY_ENDPOINT}?resource=R&api-version=2019-08-01[&client_id=C]` with the header
    `X-IDENTITY-HEADER: {IDENTITY_HEADER}`; the answer is `{"access_token", "expires_on" (epoch seconds,
    a string), "resource", "token_type": "Bearer", "client_id"}`. A wrong header is 401, an unknown
    user-assigned client id 400 `{"statusCode": 400, "message": "No Managed Identity found ..."}`.

        with FakeManagedIdentity(client_ids=("mi-user",)) as mi:
            mi.env                            # {"IDENTITY_ENDPOINT": ..., "IDENTITY_HEADER": ...}
            mi.tokens, mi.requests            # tokens issued; (query, X-IDENTITY-HEADER) per request
    """

    def __init__(self, client_ids: tuple[str, ...] = (), expires_in: int = 3600) -> None:
        self.client_ids, self.expires_in = client_ids, expires_in
        self.header = f"mi-header-{uuid.uuid4().hex[:12]}"
        self.tokens: list[str] = []
        self.requests: list[tuple[dict[str, str], str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _mi_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-msi", daemon=True)

    @property
    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{self._server.server_address[1]}/msi/token",
                "IDENTITY_HEADER": self.header}

    def __enter__(self) -> FakeManagedIdentity:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, header: str | None) -> tuple[int, dict[str, Any]]:
        route, _, raw = path.partition("?")
        query = {k: v[0] for k, v in parse_qs(raw).items()}
        self.requests.append((query, header))
        if route != "/msi/token" or query.get("api-version") != "2019-08-01" or not query.get("resource"):
            return 400, {"statusCode": 400, "message": "The request is missing resource or api-version (fake)."}
        if header != self.header:
            return 401, {"statusCode": 401, "message": "The X-IDENTITY-HEADER is missing or wrong."}
        client_id = query.get("client_id")
        if client_id is not None and client_id not in self.client_ids:
            return 400, {"statusCode": 400, "message": "No Managed Identity found for specified "
                                                        "ClientId/ResourceId/PrincipalId.", "correlationId": str(uuid.uuid4())}
        token = f"mi-token-{len(self.tokens) + 1}-{uuid.uuid4().hex[:8]}"
        self.tokens.append(token)
        return 200, {"access_token": token, "expires_on": str(int(datetime.datetime.now().timestamp()) + self.expires_in),
                     "resource": query["resource"], "token_type": "Bearer",
                     "client_id": client_id or "system-assigned-identity"}


def _mi_handler(mi: FakeManagedIdentity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            _send_json(self, *mi.answer(self.path, self.headers.get("X-IDENTITY-HEADER")))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return None

    return Handler
