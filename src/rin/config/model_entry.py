"""A `model_list` entry: `model_name`, `litellm_params` (where the model is and how to reach it,
its request defaults and prices) and `model_info`.

Both `litellm_params` and `model_info` allow extra keys because LiteLLM does: request defaults
(reasoning_effort, thinking, ...) and free-form metadata.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from rin.config.fields import (
    Duration, Int, Money, NonEmpty, NonNegFloat, NonNegInt, Penalty, Positive, PositiveInt, Strict, Temperature,
    Text, Unit,
)


class Prices(Strict):
    """USD per token, or per the unit in the name; LiteLLM's names, but for
    `output_cost_per_image_by_size` (RIN's): {"quality/size" or "size": USD per image}, e.g.
    {"hd/1024x1792": 0.12, "1024x1024": 0.04} (rin.cost.image_price)."""

    input_cost_per_token: Money | None = None
    output_cost_per_token: Money | None = None
    cache_read_input_token_cost: Money | None = None
    cache_creation_input_token_cost: Money | None = None
    input_cost_per_request: Money | None = None
    input_cost_per_second: Money | None = None
    output_cost_per_second: Money | None = None
    input_cost_per_character: Money | None = None
    output_cost_per_image: Money | None = None
    output_cost_per_image_by_size: dict[str, Money] | None = None
    input_cost_per_query: Money | None = None


class LiteLLMParams(Prices):
    """A deployment's `litellm_params`. Extra keys are request defaults passed to the provider."""

    model_config = ConfigDict(extra="allow")

    model: NonEmpty
    api_key: Text | None = None
    api_base: Text | None = None
    api_version: Text | None = None
    custom_llm_provider: NonEmpty | None = None
    extra_headers: dict[str, Text] | None = None
    timeout: Positive | None = None
    stream_timeout: Positive | None = None
    rpm: NonNegInt | None = None
    tpm: NonNegInt | None = None
    weight: NonNegFloat | None = None
    order: Int | None = None
    max_budget: Money | None = None
    budget_duration: Duration | None = None
    #: true: LiteLLM's "drop unsupported params"; a list of names: LiteLLM's additional_drop_params
    drop_params: bool | list[NonEmpty] | None = None
    #: request parameters never sent to this deployment (LiteLLM's name)
    additional_drop_params: list[NonEmpty] | None = None
    #: an Entra ID (Azure AD) token, sent as `Authorization: Bearer` instead of an `api-key`
    azure_ad_token: Text | None = None
    cooldown_time: NonNegFloat | None = None
    # cloud providers' own settings: Google Vertex AI, AWS Bedrock, Azure Entra ID (client secret)
    vertex_project: Text | None = None
    vertex_location: Text | None = None
    #: a service-account JSON file's path, or its contents (a JSON string or mapping)
    vertex_credentials: Text | dict[str, Any] | None = None
    #: LiteLLM's other spellings of the three above
    vertex_ai_project: Text | None = None
    vertex_ai_location: Text | None = None
    vertex_ai_credentials: Text | dict[str, Any] | None = None
    aws_region_name: Text | None = None
    aws_access_key_id: Text | None = None
    aws_secret_access_key: Text | None = None
    aws_session_token: Text | None = None
    aws_profile_name: Text | None = None
    aws_role_name: Text | None = None
    aws_session_name: Text | None = None
    aws_bedrock_runtime_endpoint: Text | None = None
    tenant_id: Text | None = None
    client_id: Text | None = None
    client_secret: Text | None = None
    #: what the Entra ID token is for (default https://cognitiveservices.azure.com/.default, or AZURE_SCOPE)
    azure_scope: Text | None = None
    # request defaults that are range-checked here and passed on in Deployment.defaults
    temperature: Temperature | None = None
    top_p: Unit | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    n: PositiveInt | None = None


#: litellm_params fields that configure the deployment; everything else is a request default
DEPLOYMENT_PARAMS = frozenset(set(LiteLLMParams.model_fields) - {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "n",
})


class ModelInfoSection(Prices):
    """`model_info`: free-form in LiteLLM, so extra keys are kept (and ignored)."""

    model_config = ConfigDict(extra="allow")

    id: Text | None = None
    mode: NonEmpty | None = None
    max_input_tokens: PositiveInt | None = None
    context_length: PositiveInt | None = None
    context_window: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    supports_vision: bool | None = None
    supports_function_calling: bool | None = None
    supports_reasoning: bool | None = None
    supports_response_format: bool | None = None
    display_name: str | None = None
    description: str | None = None


class ModelEntry(Strict):
    model_name: NonEmpty
    litellm_params: LiteLLMParams
    model_info: ModelInfoSection | None = None

