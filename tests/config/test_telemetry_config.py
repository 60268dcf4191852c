"""Tracing settings from the config's callback lists and the OTEL_* / LANGFUSE_* variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rin.config import ConfigError, load_config

MODELS = """\
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: sk-test}
"""


def load(tmp_path: Path, text: str = "", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text(MODELS + text)
    return load_config(path, env=env or {})


def test_tracing_is_off_by_default(tmp_path: Path) -> None:
    telemetry = load(tmp_path).telemetry
    assert not telemetry.enabled and telemetry.otlp is None and telemetry.langfuse is None


def test_callbacks_otel_uses_the_sdk_default_endpoint(tmp_path: Path) -> None:
    otlp = load(tmp_path, "litellm_settings:\n  callbacks: [otel]\n").telemetry.otlp
    assert otlp is not None
    assert (otlp.endpoint, otlp.protocol) == ("http://localhost:4318/v1/traces", "http/protobuf")


@pytest.mark.parametrize("env, endpoint, protocol", [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces", "http/protobuf"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
      "https://traces.example/custom"}, "https://traces.example/custom", "http/protobuf"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     "http://collector:4317", "grpc"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
      "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "http://c:4317", "grpc"),
])
def test_the_endpoint_variable_alone_turns_tracing_on_as_the_sdk_reads_it(tmp_path, env, endpoint, protocol) -> None:
    otlp = load(tmp_path, env=env).telemetry.otlp
    assert otlp is not None and (otlp.endpoint, otlp.protocol) == (endpoint, protocol)


def test_headers_service_name_and_resource(tmp_path: Path) -> None:
    telemetry = load(tmp_path, env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%3Dcret,x-team=ml",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment=prod",
        "OTEL_SERVICE_NAME": "gateway"}).telemetry
    assert telemetry.otlp is not None and telemetry.otlp.headers == {"api-key": "s=cret", "x-team": "ml"}
    assert "s=cret" not in repr(telemetry)  # headers often carry a collector's key
    assert telemetry.service_name == "gateway" and telemetry.resource == {"deployment.environment": "prod"}


def test_a_malformed_endpoint_is_named_and_turns_tracing_off(tmp_path: Path) -> None:
    config = load(tmp_path, "litellm_settings:\n  callbacks: [otel]\n",
                  env={"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert config.telemetry.otlp is None
    assert any("OTEL_EXPORTER_OTLP_ENDPOINT is not an http(s) URL ('collector:4318'" in w for w in config.warnings)


def test_sdk_disabled_wins(tmp_path: Path) -> None:
    config = load(tmp_path, "litellm_settings:\n  callbacks: [otel]\n", env={"OTEL_SDK_DISABLED": "true"})
    assert config.telemetry.otlp is None and any("OTEL_SDK_DISABLED" in w for w in config.warnings)


@pytest.mark.parametrize("value", ["{otel: true}", "[otel, {name: langfuse}]", "7"])
def test_a_callback_setting_that_is_not_a_list_of_names_is_an_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"litellm_settings:\n  success_callback: {value}\n")
    assert "litellm_settings.success_callback: must be a list of callback names" in str(err.value)


def test_callbacks_rin_does_not_implement_warn_once_each(tmp_path: Path) -> None:
    config = load(tmp_path, "litellm_settings:\n  success_callback: [datadog, prometheus, s3]\n"
                            "  failure_callback: [datadog, custom_callbacks.handler]\n")
    named = [w for w in config.warnings if "RIN does not implement" in w]
    assert len(named) == 3
    assert any("success_callback[0]: 'datadog' is a LiteLLM callback" in w for w in named)
    assert any("'s3'" in w for w in named) and any("'custom_callbacks.handler' is a custom Python" in w
                                                    for w in named)
    assert not any("'prometheus'" in w for w in config.warnings)  # what /metrics does
    assert config.telemetry.unsupported == ("custom_callbacks.handler", "datadog", "s3")
    assert not any("ignores" in w and "callback" in w for w in config.warnings)


def test_langfuse_needs_both_keys(tmp_path: Path) -> None:
    config = load(tmp_path, "litellm_settings:\n  success_callback: [langfuse]\n",
                  env={"LANGFUSE_PUBLIC_KEY": "pk-lf-1"})
    assert config.telemetry.langfuse is None
    assert any("Langfuse: LANGFUSE_SECRET_KEY is not set; Langfuse logging is off" in w for w in config.warnings)


def test_langfuse_host_default_and_which_requests(tmp_path: Path) -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-secret"}
    langfuse = load(tmp_path, "litellm_settings:\n  failure_callback: [langfuse]\n", env=env).telemetry.langfuse
    assert langfuse is not None and langfuse.endpoint == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    assert (langfuse.on_success, langfuse.on_failure) == (False, True)
    assert "sk-lf-secret" not in repr(langfuse)
    env["LANGFUSE_HOST"] = "http://langfuse.internal:3000/"
    langfuse = load(tmp_path, "litellm_settings:\n  callbacks: [langfuse]\n", env=env).telemetry.langfuse
    assert langfuse is not None and langfuse.endpoint == "http://langfuse.internal:3000/api/public/otel/v1/traces"
    assert (langfuse.on_success, langfuse.on_failure) == (True, True)


@pytest.mark.parametrize("text, logged", [
    ("general_settings:\n  otel_log_content: true\n", True),
    ("general_settings:\n  otel_log_content: true\nlitellm_settings:\n  turn_off_message_logging: true\n", False),
    ("litellm_settings:\n  turn_off_message_logging: false\n", False),
])
def test_content_is_logged_only_when_asked_and_not_turned_off(tmp_path: Path, text: str, logged: bool) -> None:
    assert load(tmp_path, text).telemetry.log_content is logged


def test_check_config_lists_tracing_and_unimplemented_callbacks(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(MODELS + "litellm_settings:\n  callbacks: [otel, datadog]\n")
    out = subprocess.run([sys.executable, "-m", "rin", "check-config", str(path)], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, check=True).stdout
    assert "tracing: OpenTelemetry to http://localhost:4318/v1/traces (http/protobuf)" in out
    assert "sampler parentbased_always_on" in out
    assert "callbacks not implemented (ignored): datadog" in out


def test_the_default_config_imports_no_opentelemetry() -> None:
    code = ("import sys, rin.cli, rin.runtime, rin.server.app, rin.telemetry; "
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_general_settings_otel_turns_tracing_on_and_urls_hide_credentials(tmp_path: Path) -> None:
    from rin.telemetry import describe

    telemetry = load(tmp_path, "general_settings:\n  otel: true\n",
                     env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://user:s3cret@collector.example/v1/traces"}).telemetry
    assert telemetry.otlp is not None
    line = describe(telemetry)
    assert "s3cret" not in line and "https://***@collector.example/v1/traces" in line


@pytest.mark.parametrize("env, sampler, ratio, warned", [
    ({}, "parentbased_always_on", 1.0, None),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, "traceidratio", 0.25, None),
    ({"OTEL_TRACES_SAMPLER": " ParentBased_TraceIdRatio ", "OTEL_TRACES_SAMPLER_ARG": "0"},
     "parentbased_traceidratio", 0.0, None),
    ({"OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "0.5"}, "always_off", 1.0, None),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "25%"}, "traceidratio", 1.0,
     "OTEL_TRACES_SAMPLER_ARG='25%' is not a ratio from 0 to 1"),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, "traceidratio", 1.0,
     "OTEL_TRACES_SAMPLER_ARG='1.5' is not a ratio from 0 to 1"),
    ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "parentbased_always_on", 1.0,
     "OTEL_TRACES_SAMPLER='jaeger_remote' is not one RIN implements"),
])
def test_the_sampler_variables_as_the_sdk_reads_them(tmp_path: Path, env, sampler, ratio, warned) -> None:
    config = load(tmp_path, "litellm_settings:\n  callbacks: [otel]\n", env=env)
    assert (config.telemetry.sampler, config.telemetry.ratio) == (sampler, ratio)
    notes = [w for w in config.warnings if "OTEL_TRACES_SAMPLER" in w]
    assert (notes == []) if warned is None else any(warned in w for w in notes), notes
