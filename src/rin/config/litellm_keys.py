"""LiteLLM proxy keys RIN accepts without acting on them, so real LiteLLM configs load unchanged.

A key listed here is reported once per section as "ignored", never as unknown. Keys RIN implements
live on the schema models (`rin.config.model_entry`, `rin.config.sections`), not here.
"""

from __future__ import annotations

TOP_LEVEL = frozenset({
    "credential_list", "guardrails", "mcp_servers", "mcp_tools", "callback_settings",
    "vector_store_registry", "search_tools", "assistant_settings", "files_settings", "finetune_settings",
    "prompts", "model_group_settings", "pass_through_endpoints", "agent_list", "batch_settings",
})

ROUTER = frozenset({
    "enable_pre_call_checks", "enable_pre_call_check", "retry_after", "cache_responses",
    "model_group_alias", "redis_url", "redis_db", "cache_kwargs", "routing_strategy_args",
    "enable_tag_filtering", "tag_filtering_match_any", "optional_pre_call_checks",
    "deployment_affinity_ttl_seconds", "set_verbose", "debug_level", "polling_interval", "client_ttl",
    "default_litellm_params", "default_max_parallel_requests", "default_priority",
    "model_group_retry_policy", "alerting_config", "assistants_config", "router_general_settings",
    "ignore_invalid_deployments", "caching_groups", "guardrail_list", "search_tools",
    "enable_loadbalancing_on_batch_endpoints", "model_group_affinity_config",
})

GENERAL = frozenset({
    "completion_model", "store_prompts_in_spend_logs", "forward_client_headers_to_llm_api",
    "disable_spend_updates", "disable_master_key_return",
    "disable_retry_on_max_parallel_request_limit_error", "disable_reset_budget",
    "disable_adding_master_key_hash_to_db", "disable_responses_id_security", "enable_jwt_auth",
    "enforce_user_param", "reject_clientside_metadata_tags", "allowed_routes", "key_management_system",
    "maximum_spend_logs_retention_period", "maximum_spend_logs_retention_interval",
    "user_mcp_management_mode", "database_connection_pool_limit", "database_connection_timeout",
    "allow_requests_on_db_unavailable", "custom_auth", "max_parallel_requests",
    "infer_model_from_keys", "background_health_checks",
    "health_check_interval", "health_check_details", "alerting", "alerting_threshold", "alerting_args",
    "alert_types", "alert_to_webhook_url", "use_client_credentials_pass_through_routes", "public_routes",
    "enforced_params", "enable_oauth2_auth", "enable_oauth2_proxy_auth", "use_x_forwarded_for",
    "service_account_settings", "image_generation_model", "store_model_in_db", "supported_db_objects",
    "max_response_size_mb", "proxy_budget_rescheduler_min_time", "proxy_budget_rescheduler_max_time",
    "proxy_batch_polling_interval", "custom_key_generate", "allowed_ips",
    "embedding_model", "default_team_disabled", "key_management_settings", "allow_user_auth",
    "user_api_key_cache_ttl", "disable_prisma_schema_update", "litellm_key_header_name",
    "moderation_model", "custom_sso", "allow_client_side_credentials", "admin_only_routes",
    "use_azure_key_vault", "use_google_kms", "spend_report_frequency", "ui_access_mode",
    "litellm_jwtauth", "litellm_license", "oauth2_config_mappings", "pass_through_endpoints",
    "forward_openai_org_id", "set_verbose", "json_logs", "disable_error_logs",
    "disable_telemetry", "disable_usage_tracking", "allowed_origins", "ui_username", "ui_password",
    "role_permissions", "user_header_mappings", "enable_public_model_hub", "mcp_servers",
    "disable_end_user_cost_tracking", "max_internal_user_budget", "internal_user_budget_duration",
    "store_audit_logs", "audit_log_retention_period", "user_api_key_auth", "health_check_ignore_transient_errors",
    "enable_health_check_routing", "litellm_settings_db_overrides", "pii_masking", "ssl_verify",
})

LITELLM = frozenset({
    "service_callbacks", "service_callback", "redact_user_api_key_info", "redact_messages_in_exceptions",
    "force_ipv4", "json_logs", "set_verbose", "mcp_aliases", "modify_params",
    "enable_preview_features", "disable_end_user_cost_tracking",
    "disable_end_user_cost_tracking_prometheus_only", "key_generation_settings",
    "disable_add_transform_inline_image_block", "use_chat_completions_url_for_anthropic_messages",
    "disable_hf_tokenizer_download", "enable_json_schema_validation",
    "enable_key_alias_format_validation", "disable_copilot_system_to_assistant", "timezone",
    "default_end_user_params", "extra_spend_tag_headers", "default_key_generate_params",
    "upperbound_key_generate_params", "default_internal_user_params", "default_team_settings",
    "default_team_params", "public_teams", "guardrails", "log_raw_request_response", "return_response_headers",
    "max_internal_user_budget", "internal_user_budget_duration", "s3_callback_params",
    "generic_logger_headers", "telemetry", "ssl_verify", "num_retries_per_request", "max_parallel_requests",
    "default_max_tokens", "default_temperature", "default_top_p", "success_callback_params",
    "callback_settings", "cache_control_injection_points", "drop_params_list", "additional_drop_params",
    "disable_token_counter", "use_litellm_proxy", "model_alias_map", "model_group_alias_map",
    "retry_after", "enable_caching_on_provider_specific_optional_params", "request_timeout_seconds",
    "anthropic_beta_headers", "disable_aiohttp_transport", "use_aiohttp_transport",
})

#: litellm_params keys about the deployment (not the request) that RIN does not act on
PARAMS = frozenset({
    "tags", "region_name", "max_parallel_requests", "litellm_credential_name", "mock_response",
    "use_in_pass_through", "use_litellm_proxy", "organization", "num_retries", "max_retries",
    "merge_reasoning_content_in_choices",
    "base_model", "configurable_clientside_auth_params", "litellm_trace_id", "model_info",
    "aws_web_identity_token", "azure_ad_token_provider",
    "auto_router_config", "auto_router_default_model", "auto_router_embedding_model",
    "health_check_model", "health_check_timeout", "cache_creation_input_audio_token_cost",
    "input_cost_per_pixel", "output_cost_per_pixel", "input_cost_per_image",
})

#: request parameters commonly given as deployment defaults (never "did you mean" suggestions)
REQUEST_PARAMS = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "response_format",
    "tools", "tool_choice", "parallel_tool_calls", "user", "reasoning_effort", "reasoning", "thinking",
    "extra_body", "stream_options", "service_tier", "verbosity", "modalities", "audio", "prediction",
    "web_search_options", "metadata", "store", "safe_prompt", "repetition_penalty", "min_p", "provider",
    "transforms", "route", "models", "include_reasoning", "keep_alive", "num_ctx", "options", "format",
    "functions", "function_call", "top_a", "safety_settings", "plugins", "usage",
})
