"""The provider registry: a `litellm_params.model` prefix names a provider, and the provider an adapter.

Adding an OpenAI-compatible provider is one `ProviderSpec` line below; anything else is one adapter
module implementing `rin.providers.base.Adapter`, named here by module and class and imported the
first time a deployment of that provider is loaded. A `default_api_base` may name variables in braces
(`{CLOUDFLARE_ACCOUNT_ID}`): they are filled at load time, and a model whose variable is unset
loads disabled, naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from rin.providers.base import Adapter, Setup, StreamDecoder
from rin.providers.sse import SSEDecoder
from rin.types import Deployment

_OPENAI = "openai:OpenAIAdapter"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    #: the adapter as "module:Class" in rin.providers, imported on first use (`adapter`): a gateway
    #: loads only the adapters of the providers its config uses
    adapter_ref: str
    #: where requests go unless the deployment's api_base (or api_base_env) says otherwise
    default_api_base: str | None
    #: the variable holding the key when litellm_params has no api_key
    api_key_env: str | None
    api_base_env: str | None = None
    #: local servers (ollama, vLLM) work without a key
    key_required: bool = True
    #: the variable holding the API version when litellm_params has no api_version
    api_version_env: str | None = None
    #: a deployment without api_base or api_version is a config error, not a disabled model
    #: (Azure: there is no default endpoint, and every URL carries the version)
    endpoint_required: bool = False
    #: the variable holding an Entra ID token; set for providers that take `azure_ad_token`
    ad_token_env: str | None = None
    #: load-time setup beyond key and base URL (cloud credentials, regions, projects) as
    #: "module:function" in rin.providers (`setup`), or None
    setup_ref: str | None = None

    @property
    def adapter(self) -> Adapter:
        """The provider's adapter (one instance per adapter class, shared by the specs naming it)."""
        found = _loaded.get(self.adapter_ref)
        if found is None:
            found = _loaded[self.adapter_ref] = _resolve(self.adapter_ref)()
        return found  # type: ignore[no-any-return]

    @property
    def setup(self) -> Setup | None:
        if self.setup_ref is None:
            return None
        found = _loaded.get(self.setup_ref)
        if found is None:
            found = _loaded[self.setup_ref] = _resolve(self.setup_ref)
        return found  # type: ignore[no-any-return]


#: "module:name" -> the adapter instance or setup function, once imported
_loaded: dict[str, Any] = {}


def _resolve(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(import_module(f"{__name__}.{module}"), name)


_SPECS = [
    ProviderSpec("openai", _OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_BASE"),
    ProviderSpec("anthropic", "anthropic:AnthropicAdapter", "https://api.anthropic.com", "ANTHROPIC_API_KEY",
                 "ANTHROPIC_API_BASE"),
    ProviderSpec("openrouter", "openrouter:OpenRouterAdapter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                 "OPENROUTER_API_BASE"),
    # a key, a static Entra ID token, or an Entra ID app's tokens refreshed in the background (azure_entra)
    ProviderSpec("azure", "azure:AzureAdapter", None, "AZURE_API_KEY", "AZURE_API_BASE",
                 api_version_env="AZURE_API_VERSION", endpoint_required=True, ad_token_env="AZURE_AD_TOKEN",
                 setup_ref="azure_entra:entra_setup"),
    ProviderSpec("azure_ai", "azure:AzureAIAdapter", None, "AZURE_AI_API_KEY", "AZURE_AI_API_BASE"),
    ProviderSpec("cloudflare", "cloudflare:CloudflareAdapter",
                 "https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/v1",
                 "CLOUDFLARE_API_KEY", "CLOUDFLARE_API_BASE"),
    ProviderSpec("text-completion-openai", _OPENAI, "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_BASE"),
    ProviderSpec("groq", _OPENAI, "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_API_BASE"),
    ProviderSpec("mistral", _OPENAI, "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_API_BASE"),
    ProviderSpec("deepseek", _OPENAI, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_API_BASE"),
    ProviderSpec("together_ai", _OPENAI, "https://api.together.xyz/v1", "TOGETHERAI_API_KEY",
                 "TOGETHERAI_API_BASE"),
    ProviderSpec("fireworks_ai", _OPENAI, "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY",
                 "FIREWORKS_AI_API_BASE"),
    ProviderSpec("xai", _OPENAI, "https://api.x.ai/v1", "XAI_API_KEY", "XAI_API_BASE"),
    ProviderSpec("perplexity", _OPENAI, "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY",
                 "PERPLEXITYAI_API_BASE"),
    ProviderSpec("gemini", "gemini:GeminiAdapter", "https://generativelanguage.googleapis.com/v1beta",
                 "GEMINI_API_KEY", "GEMINI_API_BASE"),
    # project, region and a Google credential refreshed in the background (vertex_auth), no key
    ProviderSpec("vertex_ai", "vertex:VertexAdapter", None, None, key_required=False,
                 setup_ref="vertex_auth:vertex_setup"),
    ProviderSpec("cerebras", _OPENAI, "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "CEREBRAS_API_BASE"),
    ProviderSpec("nvidia_nim", _OPENAI, "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY",
                 "NVIDIA_NIM_API_BASE"),
    ProviderSpec("github", _OPENAI, "https://models.inference.ai.azure.com", "GITHUB_API_KEY", None),
    # SigV4 with AWS credentials refreshed in the background (bedrock_auth), or a Bedrock API key
    ProviderSpec("bedrock", "bedrock:BedrockAdapter", None, "AWS_BEARER_TOKEN_BEDROCK", key_required=False,
                 setup_ref="bedrock_auth:bedrock_setup"),
    ProviderSpec("cohere", _OPENAI, "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY", "COHERE_API_BASE"),
    ProviderSpec("jina_ai", _OPENAI, "https://api.jina.ai/v1", "JINA_AI_API_KEY", "JINA_AI_API_BASE"),
    ProviderSpec("hosted_vllm", _OPENAI, None, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE",
                 key_required=False),
    ProviderSpec("ollama_chat", _OPENAI, "http://localhost:11434/v1", None, "OLLAMA_API_BASE",
                 key_required=False),
    ProviderSpec("ollama", _OPENAI, "http://localhost:11434/v1", None, "OLLAMA_API_BASE", key_required=False),
    ProviderSpec("lm_studio", _OPENAI, "http://localhost:1234/v1", "LM_STUDIO_API_KEY", "LM_STUDIO_API_BASE",
                 key_required=False),
]

PROVIDERS: dict[str, ProviderSpec] = {spec.name: spec for spec in _SPECS}


#: LiteLLM prefixes RIN recognises but does not speak: such deployments load, disabled, with a reason.
UNSUPPORTED = frozenset({
    "sagemaker", "huggingface", "replicate",
    "watsonx", "databricks", "predibase", "ai21", "palm", "cohere_chat",
})


def split_model(model: str) -> tuple[str, str]:
    """`"groq/llama-3.1-8b"` -> `("groq", "llama-3.1-8b")`. A bare name belongs to OpenAI, or to
    Anthropic for `claude-*`, as LiteLLM infers."""
    prefix, sep, rest = model.partition("/")
    if sep and (prefix in PROVIDERS or prefix in UNSUPPORTED):
        return prefix, rest
    if model.startswith("claude"):
        return "anthropic", model
    return "openai", model


def provider_spec(name: str) -> ProviderSpec | None:
    return PROVIDERS.get(name)


def load_adapters(names: Iterable[str]) -> None:
    """Imports the adapters of the providers `names` now (a config's, at load and reload), so no
    request pays for the import."""
    for name in set(names):
        if (spec := PROVIDERS.get(name)) is not None:
            spec.adapter  # noqa: B018 - imports and keeps it


def stream_decoder(dep: Deployment) -> StreamDecoder:
    """How `dep`'s streams are framed: Server-Sent Events, unless its adapter says otherwise
    (Bedrock's binary event stream) with a `stream_decoder(dep)` of its own."""
    make = getattr(PROVIDERS[dep.provider].adapter, "stream_decoder", None)
    return make(dep) if make is not None else SSEDecoder()
