"""The provider registry: a `litellm_params.model` prefix names a provider, and the provider an adapter.

Adding an OpenAI-compatible provider is one `ProviderSpec` line below; anything else is one adapter
module implementing `rin.providers.base.Adapter`. A `default_api_base` may name variables in braces
(`{CLOUDFLARE_ACCOUNT_ID}`): they are filled at load time, and a model whose variable is unset
loads disabled, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rin.providers.anthropic import AnthropicAdapter
from rin.providers.azure import AzureAdapter, AzureAIAdapter
from rin.providers.azure_entra import entra_setup
from rin.providers.base import Adapter, Setup, StreamDecoder
from rin.providers.bedrock import BedrockAdapter
from rin.providers.bedrock_auth import bedrock_setup
from rin.providers.cloudflare import CloudflareAdapter
from rin.providers.gemini import GeminiAdapter
from rin.providers.openai import OpenAIAdapter
from rin.providers.openrouter import OpenRouterAdapter
from rin.providers.sse import SSEDecoder
from rin.providers.vertex import VertexAdapter
from rin.providers.vertex_auth import vertex_setup
from rin.types import Deployment


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    adapter: Adapter
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
    #: load-time setup beyond key and base URL (cloud credentials, regions, projects), or None
    setup: Setup | None = None


_openai = OpenAIAdapter()

_SPECS = [
    ProviderSpec("openai", _openai, "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_BASE"),
    ProviderSpec("anthropic", AnthropicAdapter(), "https://api.anthropic.com", "ANTHROPIC_API_KEY",
                 "ANTHROPIC_API_BASE"),
    ProviderSpec("openrouter", OpenRouterAdapter(), "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
                 "OPENROUTER_API_BASE"),
    # a key, a static Entra ID token, or an Entra ID app's tokens refreshed in the background (azure_entra)
    ProviderSpec("azure", AzureAdapter(), None, "AZURE_API_KEY", "AZURE_API_BASE",
                 api_version_env="AZURE_API_VERSION", endpoint_required=True, ad_token_env="AZURE_AD_TOKEN",
                 setup=entra_setup),
    ProviderSpec("azure_ai", AzureAIAdapter(), None, "AZURE_AI_API_KEY", "AZURE_AI_API_BASE"),
    ProviderSpec("cloudflare", CloudflareAdapter(),
                 "https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/v1",
                 "CLOUDFLARE_API_KEY", "CLOUDFLARE_API_BASE"),
    ProviderSpec("text-completion-openai", _openai, "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_API_BASE"),
    ProviderSpec("groq", _openai, "https://api.groq.com/openai/v1", "GROQ_API_KEY", "GROQ_API_BASE"),
    ProviderSpec("mistral", _openai, "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "MISTRAL_API_BASE"),
    ProviderSpec("deepseek", _openai, "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DEEPSEEK_API_BASE"),
    ProviderSpec("together_ai", _openai, "https://api.together.xyz/v1", "TOGETHERAI_API_KEY",
                 "TOGETHERAI_API_BASE"),
    ProviderSpec("fireworks_ai", _openai, "https://api.fireworks.ai/inference/v1", "FIREWORKS_AI_API_KEY",
                 "FIREWORKS_AI_API_BASE"),
    ProviderSpec("xai", _openai, "https://api.x.ai/v1", "XAI_API_KEY", "XAI_API_BASE"),
    ProviderSpec("perplexity", _openai, "https://api.perplexity.ai", "PERPLEXITYAI_API_KEY",
                 "PERPLEXITYAI_API_BASE"),
    ProviderSpec("gemini", GeminiAdapter(_openai), "https://generativelanguage.googleapis.com/v1beta",
                 "GEMINI_API_KEY", "GEMINI_API_BASE"),
    # project, region and a Google credential refreshed in the background (vertex_auth), no key
    ProviderSpec("vertex_ai", VertexAdapter(), None, None, key_required=False, setup=vertex_setup),
    ProviderSpec("cerebras", _openai, "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", "CEREBRAS_API_BASE"),
    ProviderSpec("nvidia_nim", _openai, "https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY",
                 "NVIDIA_NIM_API_BASE"),
    ProviderSpec("github", _openai, "https://models.inference.ai.azure.com", "GITHUB_API_KEY", None),
    # SigV4 with AWS credentials refreshed in the background (bedrock_auth), or a Bedrock API key
    ProviderSpec("bedrock", BedrockAdapter(), None, "AWS_BEARER_TOKEN_BEDROCK", key_required=False,
                 setup=bedrock_setup),
    ProviderSpec("cohere", _openai, "https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY", "COHERE_API_BASE"),
    ProviderSpec("jina_ai", _openai, "https://api.jina.ai/v1", "JINA_AI_API_KEY", "JINA_AI_API_BASE"),
    ProviderSpec("hosted_vllm", _openai, None, "HOSTED_VLLM_API_KEY", "HOSTED_VLLM_API_BASE",
                 key_required=False),
    ProviderSpec("ollama_chat", _openai, "http://localhost:11434/v1", None, "OLLAMA_API_BASE",
                 key_required=False),
    ProviderSpec("ollama", _openai, "http://localhost:11434/v1", None, "OLLAMA_API_BASE", key_required=False),
    ProviderSpec("lm_studio", _openai, "http://localhost:1234/v1", "LM_STUDIO_API_KEY", "LM_STUDIO_API_BASE",
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


def stream_decoder(dep: Deployment) -> StreamDecoder:
    """How `dep`'s streams are framed: Server-Sent Events, unless its adapter says otherwise
    (Bedrock's binary event stream) with a `stream_decoder(dep)` of its own."""
    make = getattr(PROVIDERS[dep.provider].adapter, "stream_decoder", None)
    return make(dep) if make is not None else SSEDecoder()
