"""Values LiteLLM proxy accepts load in RIN too: used as LiteLLM uses them, with a warning naming the
file line where RIN would have chosen otherwise. Strictness stays where LiteLLM also fails."""

from __future__ import annotations

from pathlib import Path

from rin.config import load_config
from rin.params import effective_body
from rin.providers import PROVIDERS
from rin.types import ChatRequest
from tests.config.test_errors import MODEL, errors_of, write

ENV = {"OPENAI_API_KEY": "sk-test"}


def test_drop_params_list_is_additional_drop_params(tmp_path: Path) -> None:
    text = MODEL + "      drop_params: [logit_bias, user]\n      additional_drop_params: [seed]\n"
    dep = load_config(write(tmp_path, text), env=ENV).deployments[0]
    assert dep.additional_drop_params == ("seed", "logit_bias", "user") and dep.drop_params is False
    req = ChatRequest({"model": "gpt-4o", "messages": [], "user": "ann", "seed": 1, "logit_bias": {}, "top_p": 1},
                      "gpt-4o")
    body = effective_body(req, dep)
    assert "user" not in body and "seed" not in body and "logit_bias" not in body and body["top_p"] == 1
    sent = PROVIDERS["openai"].adapter.build_embeddings({"model": "x", "input": "a", "user": "ann"}, dep)
    assert b'"user"' not in sent.body


def test_drop_params_true_is_still_the_switch(tmp_path: Path) -> None:
    dep = load_config(write(tmp_path, MODEL + "      drop_params: true\n"), env=ENV).deployments[0]
    assert dep.drop_params is True and dep.additional_drop_params == ()


def test_a_long_batch_write_interval_loads_with_a_warning_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MODEL + "general_settings:\n  proxy_batch_write_at: 600\n")
    config = load_config(path, env=ENV)
    assert config.general.proxy_batch_write_at == 600.0
    [warning] = [w for w in config.warnings if "proxy_batch_write_at" in w]
    assert warning.startswith(f"{path}:6: general_settings.proxy_batch_write_at: 600 s") and "used as given" in warning


def test_a_zero_batch_write_interval_is_raised_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, MODEL + "general_settings:\n  proxy_batch_write_at: 0\n")
    config = load_config(path, env=ENV)
    assert config.general.proxy_batch_write_at == 0.25
    assert any(w.startswith(f"{path}:6:") and "using 0.25 s" in w for w in config.warnings)


AZURE = """\
model_list:
  - model_name: az
    litellm_params:
      model: azure/my-gpt-4o
"""


def test_azure_without_api_base_or_api_version_fails_naming_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, AZURE + "      api_key: k\n")
    errors = errors_of(path)
    assert errors == [
        f"{path}:3: model_list[0].litellm_params: azure needs api_base: add litellm_params.api_base "
        "(e.g. https://<resource>.openai.azure.com) or set AZURE_API_BASE",
        f"{path}:3: model_list[0].litellm_params: azure needs api_version: add litellm_params.api_version "
        '(e.g. "2024-10-21") or set AZURE_API_VERSION',
    ]


def test_azure_reads_its_variables_at_load_time(tmp_path: Path) -> None:
    path = write(tmp_path, AZURE)
    env = {"AZURE_API_KEY": "k", "AZURE_API_BASE": "https://r.openai.azure.com/", "AZURE_API_VERSION": "2024-10-21"}
    dep = load_config(path, env=env).deployments[0]
    assert dep.enabled and dep.api_key.get() == "k"
    assert (dep.api_base, dep.api_version, dep.provider_model) == ("https://r.openai.azure.com", "2024-10-21", "my-gpt-4o")


def test_azure_variables_referenced_but_unset_disable_instead_of_failing(tmp_path: Path) -> None:
    text = AZURE + "      api_base: os.environ/AZ_BASE\n      api_version: os.environ/AZ_VERSION\n"
    dep = load_config(write(tmp_path, text), env={"AZURE_API_KEY": "k"}).deployments[0]
    assert dep.disabled_reason == "AZ_BASE is not set"


def test_azure_ad_token_is_a_bearer_header_and_never_shown(tmp_path: Path) -> None:
    text = AZURE + ("      api_base: https://r.openai.azure.com\n      api_version: '2024-10-21'\n"
                    "      azure_ad_token: os.environ/AZ_TOKEN\n")
    config = load_config(write(tmp_path, text), env={"AZ_TOKEN": "eyJ-token", "AZURE_API_KEY": "ambient"})
    dep = config.deployments[0]
    assert dep.enabled and dep.api_key is None and dep.extra_headers == {"authorization": "Bearer eyJ-token"}
    assert "eyJ-token" not in repr(dep) and not any("eyJ-token" in w for w in config.warnings)


def test_cloudflare_without_an_account_id_is_disabled_naming_the_variable(tmp_path: Path) -> None:
    text = "model_list:\n  - model_name: cf\n    litellm_params:\n      model: cloudflare/@cf/meta/llama-3.1-8b-instruct\n"
    dep = load_config(write(tmp_path, text), env={"CLOUDFLARE_API_KEY": "t"}).deployments[0]
    assert dep.disabled_reason == "CLOUDFLARE_ACCOUNT_ID is not set"
    dep = load_config(write(tmp_path, text), env={"CLOUDFLARE_API_KEY": "t", "CLOUDFLARE_ACCOUNT_ID": "ab12"}).deployments[0]
    assert dep.enabled and dep.api_base == "https://api.cloudflare.com/client/v4/accounts/ab12/ai/v1"
    dep = load_config(write(tmp_path, text), env={"CLOUDFLARE_ACCOUNT_ID": "ab12"}).deployments[0]
    assert dep.disabled_reason == "CLOUDFLARE_API_KEY is not set"
