"""Vertex AI's load-time setup: the project, the region, and the Google credential whose access
tokens the requests carry.

Everything LiteLLM accepts is accepted here: `vertex_project` / `vertex_location` /
`vertex_credentials` (or their `vertex_ai_*` spellings), then the variables `VERTEXAI_PROJECT`,
`VERTEXAI_LOCATION`, `VERTEXAI_CREDENTIALS`, then Google's own `GOOGLE_CLOUD_PROJECT` and
`GOOGLE_APPLICATION_CREDENTIALS`, then the credentials file's `project_id`. The region defaults to
us-central1, as LiteLLM's does, with a warning. Credentials are a JSON file's path or its contents
(a string or a YAML mapping) of any type google-auth loads (service account, authorized user,
workload identity federation). RIN never asks the GCE metadata server: with no credentials the
model loads disabled, saying what to set.

google-auth (the `vertex` extra) is imported only inside functions: without it the model loads
disabled, naming the extra.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from datetime import timezone
from functools import partial
from typing import Any

import orjson

from rin.credentials import Credential
from rin.providers.base import SetupInput, SetupResult

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
DEFAULT_LOCATION = "us-central1"
EXTRA = "pip install 'rin[vertex]'"
#: one token exchange may take this long (google-auth's own default is 120 s)
TOKEN_TIMEOUT = 20.0

#: Model Garden partners other than Anthropic: they speak other protocols (OpenAI's, Mistral's)
_OTHER_PARTNERS = ("meta/", "mistral", "codestral", "jamba", "llama", "deepseek", "qwen", "openai/")

#: one credential per distinct credentials file, shared by the deployments (and reloads) that use it
_SHARED: weakref.WeakValueDictionary[str, GoogleCredential] = weakref.WeakValueDictionary()


class GoogleCredential(Credential):
    """Google credentials (a parsed credentials file) whose value is an OAuth access token."""

    def __init__(self, info: dict[str, Any]) -> None:
        who = info.get("client_email") or info.get("client_id") or info.get("audience") or "unnamed"
        super().__init__(f"Vertex AI {str(info.get('type') or 'credentials').replace('_', ' ')} {who}")
        self._info = info

    def fetch(self) -> tuple[str, float | None]:
        import requests
        from google.auth.transport.requests import Request

        creds = google_credentials(self._info)
        with requests.Session() as session:
            creds.refresh(partial(Request(session), timeout=TOKEN_TIMEOUT))
        expiry = creds.expiry  # naive UTC
        return creds.token, expiry.replace(tzinfo=timezone.utc).timestamp() if expiry else None


def vertex_setup(inp: SetupInput) -> SetupResult:
    """Project, location, URL root and credential of one `vertex_ai/` deployment."""
    model = inp.provider_model
    if model.startswith(_OTHER_PARTNERS):
        return SetupResult(disabled_reason=f"'{model}' is a Vertex AI partner model RIN does not speak "
                                           "(it speaks Gemini, Claude and Google's embedding models there)")
    params, env = inp.params, inp.env
    found = _credentials_source(params, env)
    if found is None:
        return SetupResult(disabled_reason=(
            "no Google credentials: set litellm_params.vertex_credentials (a service-account JSON file's "
            "path, or its contents) or GOOGLE_APPLICATION_CREDENTIALS"))
    key, value = found
    info, problem = _read_credentials(value)
    if info is None:
        if key in ("vertex_credentials", "vertex_ai_credentials"):
            return SetupResult(errors=[(key, problem)])
        return SetupResult(disabled_reason=f"{key}: {problem}")
    result = SetupResult()
    project = (params.vertex_project or params.vertex_ai_project or env.get("VERTEXAI_PROJECT")
               or env.get("GOOGLE_CLOUD_PROJECT") or info.get("project_id") or info.get("quota_project_id"))
    if not project:
        result.errors.append(("vertex_project", (
            "Vertex AI needs a Google Cloud project: add vertex_project: <project id> here (or set "
            "VERTEXAI_PROJECT, or use a credentials file that has a project_id)")))
    location = params.vertex_location or params.vertex_ai_location or env.get("VERTEXAI_LOCATION")
    if not location:
        location = DEFAULT_LOCATION
        if "/projects/" not in inp.api_base:
            result.warnings.append(("vertex_location", (
                f"not set: using {DEFAULT_LOCATION}, as LiteLLM does; add vertex_location: <region> "
                "(or set VERTEXAI_LOCATION) to choose the region, or 'global'")))
    result.options = {"project": project, "location": location}
    result.info = capabilities(model)
    result.api_base = inp.api_base or google_host(location)
    missing = _missing_google_auth()
    if missing:
        result.disabled_reason = f"{missing} is not installed: {EXTRA}"
        return result
    try:
        result.credential = shared_credential(info)
    except Exception as err:  # noqa: BLE001 - google-auth raises several kinds for a bad file
        message = f"is not usable Google credentials ({_first_line(err)})"
        if key in ("vertex_credentials", "vertex_ai_credentials"):
            result.errors.append((key, message))
        else:
            result.disabled_reason = f"{key} {message}"
    return result


def capabilities(model: str) -> dict[str, Any]:
    """What LiteLLM's model table says Vertex's chat models take (model_info overrides it): Gemini
    and Claude call tools, Gemini and the Claude models but Haiku read images."""
    if "embedding" in model or model.startswith("textembedding") or model.isdigit():
        return {}
    if model.startswith("gemini"):
        return {"supports_vision": True, "supports_function_calling": True}
    if model.startswith("claude"):
        return {"supports_function_calling": True, **({} if "haiku" in model else {"supports_vision": True})}
    return {}


def google_host(location: str) -> str:
    """Vertex AI's URL root for a region; the `global` location has a host of its own."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def shared_credential(info: dict[str, Any]) -> GoogleCredential:
    """The credential for `info`, checked by google-auth without any network call; deployments
    (and reloads) with the same credentials share one, so one token serves them all."""
    digest = hashlib.sha256(orjson.dumps(info, option=orjson.OPT_SORT_KEYS)).hexdigest()
    cred = _SHARED.get(digest)
    if cred is None:
        google_credentials(info)  # raises on a bad file
        cred = _SHARED[digest] = GoogleCredential(info)
    return cred


def google_credentials(info: dict[str, Any]) -> Any:
    """google-auth's credentials object for a credentials file's contents, scoped for Vertex AI
    (the types LiteLLM loads; google.auth.load_credentials_from_dict is deprecated)."""
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    if kind == "authorized_user":  # `gcloud auth application-default login`
        from google.oauth2 import credentials

        return credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
    if kind == "external_account":  # workload identity federation
        source = info.get("credential_source")
        if isinstance(source, dict) and "aws" in str(source.get("environment_id") or ""):
            from google.auth import aws as federation
        else:
            from google.auth import identity_pool as federation
        return federation.Credentials.from_info(info, scopes=list(SCOPES))
    raise ValueError(f"credentials of type {kind!r} are not supported: use a service_account, "
                     "authorized_user or external_account file")


def _credentials_source(params: Any, env: Any) -> tuple[str, Any] | None:
    """(where it came from, value): litellm_params first, then the variables."""
    for key in ("vertex_credentials", "vertex_ai_credentials"):
        value = getattr(params, key)
        if value:
            return key, value
    for var in ("VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        if env.get(var):
            return var, env[var]
    return None


def _read_credentials(value: Any) -> tuple[dict[str, Any] | None, str]:
    """The credentials as a mapping, or None and what is wrong (never echoing their contents)."""
    if isinstance(value, dict):
        data: Any = value
    elif value.lstrip().startswith("{"):
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None, "looks like JSON but does not parse"
    else:
        path = os.path.expanduser(value)
        try:
            with open(path, "rb") as f:
                data = orjson.loads(f.read())
        except FileNotFoundError:
            return None, f"no such file: {value}"
        except OSError as err:
            return None, f"cannot read {value} ({type(err).__name__})"
        except orjson.JSONDecodeError:
            return None, f"{value} is not a JSON credentials file"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None, "is not a Google credentials file (a JSON object with a 'type', e.g. service_account)"
    return data, ""


def _missing_google_auth() -> str | None:
    """The name of the package the `vertex` extra brings that cannot be imported, if any."""
    try:
        import google.auth  # noqa: F401
        import google.auth.transport.requests  # noqa: F401
    except ImportError:
        return "google-auth"
    try:
        import requests  # noqa: F401
    except ImportError:
        return "requests"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
