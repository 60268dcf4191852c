"""Entra ID (Azure AD) tokens RIN fetches and refreshes itself for `azure/` deployments, as LiteLLM
does: an app registration's client-credentials flow through azure-identity's ClientSecretCredential
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
    if given:
        app = tuple(getattr(params, key) for key in _KEYS)
    elif (env.get("AZURE_API_KEY") or env.get("AZURE_AD_TOKEN")
          or inp.settings.get("enable_azure_ad_token_refresh") is not True):
        return SetupResult()
    else:
        unset = [var for var in _VARIABLES if not env.get(var)]
        if unset:
            return SetupResult(disabled_reason=f"litellm_settings.enable_azure_ad_token_refresh is on but "
                                               f"{', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set")
        app = tuple(env[var] for var in _VARIABLES)
    return _app(*app, scope=params.azure_scope or env.get("AZURE_SCOPE") or SCOPE,
                authority=env.get("AZURE_AUTHORITY_HOST") or AUTHORITY, from_config=bool(given))


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
