"""AWS Bedrock's load-time setup (`ProviderSpec.setup`): region, endpoint, credentials, price ids.

Credentials come, first match wins, from litellm_params (`aws_access_key_id` /
`aws_secret_access_key` / `aws_session_token`), the profile named by `aws_profile_name`, the
variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then botocore's own chain
(AWS_PROFILE, the shared credentials and config files with their `credential_process`, SSO and
assumed roles, container and instance roles). `aws_role_name` (a role ARN) is assumed on top of
them through STS, as LiteLLM does. botocore is imported here, inside functions: a config without
Bedrock never loads it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from rin.credentials import Credential
from rin.providers.base import SetupInput, SetupResult

EXTRA = "pip install 'rin[bedrock]'"
#: where a region may come from, after litellm_params.aws_region_name and an ARN's (LiteLLM's order)
REGION_VARS = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):")
#: LiteLLM's route words between `bedrock/` and the model id; RIN speaks Converse to every model
_ROUTES = ("converse/", "invoke/")
#: a cross-region inference profile's geography before the model id: `us.anthropic.claude-...`
_GEOGRAPHY = re.compile(r"^(?:us|eu|apac|us-gov|global|jp|au|ca)\.(?=[a-z0-9-]+\.)")
#: model families whose Converse support for images and tools is documented; others stay unknown
_VISION_AND_TOOLS = re.compile(r"^(?:anthropic\.claude-(?!v2|instant)|amazon\.nova-(?:lite|pro|premier))")
_TOOLS = re.compile(r"^amazon\.nova-micro")


def model_id_of(provider_model: str) -> str:
    """`converse/us.anthropic.claude-...` -> `us.anthropic.claude-...`: the id Bedrock's URLs take."""
    for route in _ROUTES:
        if provider_model.startswith(route):
            return provider_model[len(route):]
    return provider_model


def base_model_id(model_id: str) -> str:
    """A cross-region inference profile's model: `eu.amazon.nova-pro-v1:0` -> `amazon.nova-pro-v1:0`."""
    return _GEOGRAPHY.sub("", model_id)


def price_keys(model_id: str, region: str) -> tuple[str, ...]:
    """Where LiteLLM-format price tables list a Bedrock model, most specific first: the id itself
    (`us.anthropic...` may be priced apart), then the model a cross-region id runs."""
    keys: list[str] = []
    for name in dict.fromkeys((model_id, base_model_id(model_id))):
        keys += [name, f"bedrock/{name}", f"bedrock/{region}/{name}", f"bedrock/converse/{name}"]
    return tuple(dict.fromkeys(keys))


def capabilities(model_id: str) -> dict[str, Any]:
    """ModelInfo flags Bedrock's documentation settles for this model (model_info overrides them)."""
    base = base_model_id(model_id)
    if _VISION_AND_TOOLS.match(base):
        return {"supports_vision": True, "supports_function_calling": True}
    if _TOOLS.match(base):
        return {"supports_function_calling": True}
    return {}


def bedrock_setup(inp: SetupInput) -> SetupResult:
    """One Bedrock deployment at load: its region, endpoint and credential (nothing fetched yet)."""
    params = inp.params
    model_id = model_id_of(inp.provider_model)
    options: dict[str, Any] = {"model_id": model_id}
    try:
        import botocore.session  # noqa: F401 - only whether it is there
    except ImportError:
        return SetupResult(options=options, disabled_reason=f"botocore is not installed: {EXTRA}")
    _quiet_botocore()
    arn = _ARN_REGION.match(model_id)
    region = (params.aws_region_name or (arn.group(1) if arn else None)
              or next((inp.env[v] for v in REGION_VARS if inp.env.get(v)), None)
              or _profile_region(params.aws_profile_name, inp.env))
    if not region:
        return SetupResult(options=options, errors=[(
            "aws_region_name",
            "Bedrock needs a region: add aws_region_name (e.g. us-east-1) to this model's litellm_params, "
            "or set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS profile)",
        )])
    options.update(region=region, price_keys=price_keys(model_id, region))
    endpoint = inp.api_base or params.aws_bedrock_runtime_endpoint or inp.env.get("AWS_BEDROCK_RUNTIME_ENDPOINT")
    api_base = endpoint or f"https://bedrock-runtime.{region}.amazonaws.com"
    if params.api_key or inp.env.get("AWS_BEARER_TOKEN_BEDROCK"):
        return SetupResult(api_base=api_base, options=options, info=capabilities(model_id))
    credential = AWSCredential(f"AWS credentials for bedrock/{model_id}", params, inp.env, region)
    return SetupResult(api_base=api_base, credential=credential, options=options, info=capabilities(model_id))


def _quiet_botocore() -> None:
    """botocore's DEBUG lines print signed requests, the session token among their headers; its
    warnings about a failed refresh (a traceback each) repeat what rin.credentials reports in a line."""
    for name, level in (("botocore", logging.INFO), ("botocore.credentials", logging.ERROR)):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < level:
            logger.setLevel(level)


def _profile_region(profile: str | None, env: Mapping[str, str]) -> str | None:
    try:
        return _session(profile, env).get_config_variable("region") or None
    except Exception:  # noqa: BLE001 - a broken profile file: reported when credentials are fetched
        return None


def _session(profile: str | None, env: Mapping[str, str]) -> Any:
    """A botocore session reading the profile and files `env` names (the config's
    environment_variables included, which are not in os.environ)."""
    import botocore.session

    session = botocore.session.Session(profile=profile or env.get("AWS_PROFILE") or None)
    for var, name in (("AWS_CONFIG_FILE", "config_file"), ("AWS_SHARED_CREDENTIALS_FILE", "credentials_file")):
        if env.get(var):
            session.set_config_variable(name, env[var])
    return session


class AWSCredential(Credential):
    """AWS credentials for SigV4, as botocore's frozen (access key, secret key, token) triple."""

    def __init__(self, label: str, params: Any, env: Mapping[str, str], region: str) -> None:
        super().__init__(label)
        self._params = params
        self._env = dict(env)
        self._region = region
        #: botocore's refreshable credentials, kept: they know how to renew themselves
        self._source: Any = None

    def fetch(self) -> tuple[Any, float | None]:
        source = self._source or self._resolve()
        frozen = source.get_frozen_credentials()  # renews refreshable credentials near their expiry
        expiry = getattr(source, "_expiry_time", None)
        if expiry is None:
            self._source = None  # static keys: read the chain again next time (files may change)
            return frozen, None
        self._source = source
        return frozen, expiry.timestamp()

    def _resolve(self) -> Any:
        from botocore.credentials import Credentials

        p, env = self._params, self._env
        session = _session(p.aws_profile_name, env)
        session.set_config_variable("region", self._region)
        if p.aws_access_key_id or p.aws_secret_access_key:
            if not (p.aws_access_key_id and p.aws_secret_access_key):
                raise ValueError("litellm_params sets only one of aws_access_key_id and aws_secret_access_key")
            source = Credentials(p.aws_access_key_id, p.aws_secret_access_key, p.aws_session_token)
        elif not p.aws_profile_name and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            source = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
        else:
            source = session.get_credentials()
            if source is None:
                raise LookupError(
                    "no AWS credentials found (litellm_params aws_access_key_id / aws_secret_access_key, "
                    "aws_profile_name, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared "
                    "credentials file, or an instance role)"
                )
        if p.aws_role_name:
            source = _assume_role(session, source, p.aws_role_name, p.aws_session_name or "rin")
        return source


def _assume_role(session: Any, source: Any, role_arn: str, session_name: str) -> Any:
    """botocore's own AssumeRole machinery (as its profiles' `role_arn` uses): renewed before expiry."""
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    fetcher = AssumeRoleCredentialFetcher(session.create_client, source, role_arn,
                                          extra_args={"RoleSessionName": session_name})
    return DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
