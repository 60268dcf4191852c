"""Entra ID (Azure AD) tokens RIN fetches and refreshes itself for `azure/` deployments, as LiteLLM
does: an app registration's client-credentials flow through azure-identity's ClientSecretCredential,
or, with enable_azure_ad_token_refresh, the host's managed identity and azure-identity's other credentials
(the `azure` extra, imported only when a deployment needs it). The refresher (rin.credentials) calls
`fetch` in a worker thread; the adapter only reads the token from memory.

Which credential an `azure/` deployment uses, the first one found (the deployment's own keys before
the variables every Azure deployment shares):

    litellm_params.api_key                                    `api-key` header
    litellm_params.azure_ad_token                             `Authorization: Bearer`, as given
    litellm_params.tenant_id, client_id, client_secret        Bearer, fetched and refreshed here
    AZURE_API_KEY                                             `api-key` header
    AZURE_AD_TOKEN                                            Bearer, as given
    AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET     Bearer, fetched and refreshed here, when
                                                              litellm_settings.enable_azure_ad_token_refresh
    with that setting and no app secret: AZURE_CREDENTIAL     the host's managed identity, a workload
    (or what the AZURE_* variables point to, `_inferred`)     identity, a certificate or azure.identity's
                                                              default chain, fetched and refreshed here

Tokens are for `azure_scope` / AZURE_SCOPE (default https://cognitiveservices.azure.com/.default), from
AZURE_AUTHORITY_HOST (default https://login.microsoftonline.com).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from rin.credentials import FETCH_TIMEOUT, Credential
from rin.providers.base import SetupInput, SetupResult

SCOPE = "https://cognitiveservices.azure.com/.default"
AUTHORITY = "https://login.microsoftonline.com"
_KEYS = ("tenant_id", "client_id", "client_secret")
_VARIABLES = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")


class EntraCredential(Credential):
    """An app registration's access token for `scope`, from an azure.identity credential."""

    def __init__(self, sdk: Any, scope: str, label: str) -> None:
        super().__init__(label)
        self._sdk, self._scope = sdk, scope

    def fetch(self) -> tuple[str, float]:
        token = self._sdk.get_token(self._scope)
        return token.token, float(token.expires_on)


def entra_setup(inp: SetupInput) -> SetupResult:
    """The deployment's Entra ID app, when that is its credential (the table above); else nothing."""
    params, env = inp.params, inp.env
    given = [key for key in _KEYS if getattr(params, key)]
    if given and len(given) < len(_KEYS):
        missing = [key for key in _KEYS if key not in given]
        return SetupResult(errors=[(key, f"is missing: an Entra ID app needs {', '.join(_KEYS)} together "
                                         f"({', '.join(given)} {'is' if len(given) == 1 else 'are'} set)")
                                   for key in missing])
    if params.api_key or params.azure_ad_token:
        return SetupResult()
    scope = params.azure_scope or env.get("AZURE_SCOPE") or SCOPE
    authority = env.get("AZURE_AUTHORITY_HOST") or AUTHORITY
    if given:
        return _app(*(getattr(params, key) for key in _KEYS), scope=scope, authority=authority, from_config=True)
    if (env.get("AZURE_API_KEY") or env.get("AZURE_AD_TOKEN")
            or inp.settings.get("enable_azure_ad_token_refresh") is not True):
        return SetupResult()
    kind = env.get("AZURE_CREDENTIAL", "").strip() or _inferred(env)
    if kind == "ClientSecretCredential":
        unset = [var for var in _VARIABLES if not env.get(var)]
        if unset:
            return SetupResult(disabled_reason=f"litellm_settings.enable_azure_ad_token_refresh is on but "
                                               f"{', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set")
        return _app(*(env[var] for var in _VARIABLES), scope=scope, authority=authority, from_config=False)
    return _identity(kind, env, scope)


#: AZURE_CREDENTIAL's values (azure.identity's class names), as LiteLLM takes them
CREDENTIALS = ("ClientSecretCredential", "ManagedIdentityCredential", "WorkloadIdentityCredential",
               "CertificateCredential", "DefaultAzureCredential")


def _inferred(env: dict[str, str]) -> str:
    """The credential the AZURE_* variables point to when AZURE_CREDENTIAL doesn't name one (as
    LiteLLM infers it, but a certificate path before a bare client id, which LiteLLM never reaches)."""
    if all(env.get(var) for var in _VARIABLES):
        return "ClientSecretCredential"
    if env.get("AZURE_FEDERATED_TOKEN_FILE"):  # AKS workload identity, through the default chain
        return "DefaultAzureCredential"
    if env.get("AZURE_CERTIFICATE_PATH"):
        return "CertificateCredential"
    if env.get("AZURE_CLIENT_ID"):  # a user-assigned managed identity
        return "ManagedIdentityCredential"
    return "DefaultAzureCredential"  # environment, workload identity, managed identity, Azure CLI, ...


def _identity(kind: str, env: dict[str, str], scope: str) -> SetupResult:
    """A credential other than an app's secret (enable_azure_ad_token_refresh with AZURE_CREDENTIAL,
    or what the variables point to): the managed identity of the host (App Service, VMs, AKS, Arc),
    a workload identity, a certificate, or azure.identity's default chain."""
    if kind not in CREDENTIALS:
        return SetupResult(disabled_reason=f"AZURE_CREDENTIAL={kind[:40]!r} is not one RIN knows: "
                                           f"{', '.join(CREDENTIALS)}")
    try:
        import azure.identity as identity
    except ImportError:
        return SetupResult(disabled_reason="Entra ID tokens need the azure-identity package: "
                                           "pip install 'rin[azure]'")
    client_id, tenant_id = env.get("AZURE_CLIENT_ID") or None, env.get("AZURE_TENANT_ID") or None
    quiet: dict[str, Any] = {"http_logging_level": logging.DEBUG}
    try:
        if kind == "ManagedIdentityCredential":
            sdk: Any = identity.ManagedIdentityCredential(client_id=client_id, **quiet)
            label = f"Entra ID managed identity{f' {client_id}' if client_id else ''}"
        elif kind == "CertificateCredential":
            unset = [v for v in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CERTIFICATE_PATH") if not env.get(v)]
            if unset:
                return SetupResult(disabled_reason=f"AZURE_CREDENTIAL=CertificateCredential needs "
                                                   f"{', '.join(unset)}")
            sdk = identity.CertificateCredential(tenant_id, client_id, env["AZURE_CERTIFICATE_PATH"],
                                                 password=env.get("AZURE_CERTIFICATE_PASSWORD") or None, **quiet)
            label = f"Entra ID app {client_id} in tenant {tenant_id} (certificate)"
        elif kind == "WorkloadIdentityCredential":
            sdk = identity.WorkloadIdentityCredential(**quiet)
            label = "Entra ID workload identity"
        else:
            sdk = identity.DefaultAzureCredential(**quiet)
            label = "Entra ID DefaultAzureCredential chain"
    except (ValueError, OSError) as err:  # a missing variable or an unreadable certificate
        return SetupResult(disabled_reason=f"{kind}: {str(err).splitlines()[0]}")
    return SetupResult(credential=EntraCredential(sdk, scope, label))


def _app(tenant_id: str, client_id: str, secret: str, scope: str, authority: str, from_config: bool) -> SetupResult:
    if urlparse(authority).scheme not in ("https", ""):
        return SetupResult(disabled_reason=f"AZURE_AUTHORITY_HOST must be an https URL, not {authority!r}")
    try:
        from azure.identity import ClientSecretCredential
    except ImportError:
        return SetupResult(disabled_reason="Entra ID tokens need the azure-identity package: "
                                           "pip install 'rin[azure]'")
    try:
        # Instance discovery asks login.microsoftonline.com whether the authority is Microsoft's: it
        # skips the well-known clouds anyway, and would reject a private one (Azure Stack, a test fake).
        # The SDK's trace of every token request (a dozen lines each) is logged at DEBUG, not INFO.
        sdk = ClientSecretCredential(tenant_id, client_id, secret, authority=authority,
                                     disable_instance_discovery=True, http_logging_level=logging.DEBUG,
                                     connection_timeout=FETCH_TIMEOUT / 3, read_timeout=FETCH_TIMEOUT / 2)
    except ValueError as err:  # the one value left to reject: a tenant id with invalid characters
        reason = str(err).splitlines()[0]
        return SetupResult(errors=[("tenant_id", reason)]) if from_config else SetupResult(
            disabled_reason=f"AZURE_TENANT_ID: {reason}")
    return SetupResult(credential=EntraCredential(sdk, scope, f"Entra ID app {client_id} in tenant {tenant_id}"))
