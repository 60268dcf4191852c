"""Tracing settings: LiteLLM's callback lists and the standard OpenTelemetry / Langfuse variables
-> `TelemetrySettings`.

    litellm_settings.callbacks / success_callback / failure_callback: ["otel", "langfuse", ...]
    general_settings.otel: true                      (LiteLLM's switch, same as callbacks: ["otel"])
    OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT              also turns OpenTelemetry on by itself
    OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL / _HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none,
    OTEL_TRACES_SAMPLER / _ARG, OTEL_BSP_*           read as the OpenTelemetry SDK reads them
    LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY / LANGFUSE_HOST
    general_settings.otel_log_content: true           prompts and answers in spans (RIN's switch),
                                                      unless litellm_settings.turn_off_message_logging

A bad endpoint or missing Langfuse key turns that destination off with a warning: a gateway keeps
serving when its telemetry is misconfigured. A callback setting of the wrong shape is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from rin.config.problems import KeyPath, Problems
from rin.config.resolved import LangfuseExport, OtlpExport, TelemetrySettings
from rin.types import Secret

#: litellm_settings keys read here
LITELLM_KEYS = ("callbacks", "success_callback", "failure_callback", "turn_off_message_logging",
                "langfuse_default_tags")
#: general_settings keys read here
GENERAL_KEYS = ("otel", "otel_log_content")

_OTEL = frozenset({"otel", "opentelemetry"})
_LANGFUSE = frozenset({"langfuse", "langfuse_otel"})
#: what /metrics already serves
_BUILT_IN = frozenset({"prometheus"})
IMPLEMENTED = ("otel", "langfuse", "prometheus")

LANGFUSE_HOST = "https://cloud.langfuse.com"
_OTLP_HTTP = "http://localhost:4318"
_OTLP_GRPC = "http://localhost:4317"
_PROTOCOLS = ("http/protobuf", "grpc")
#: OTEL_TRACES_SAMPLER's values RIN implements (the SDK's built-in ones): parent-based ones follow
#: a client's traceparent, the ratio ones (OTEL_TRACES_SAMPLER_ARG) keep that share of trace ids
SAMPLERS = ("always_on", "always_off", "traceidratio",
            "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")


def telemetry_settings(lit: Mapping[str, Any], general: Mapping[str, Any], env: Mapping[str, str],
                       problems: Problems) -> TelemetrySettings:
    lists = {key: _names(lit.get(key), ("litellm_settings", key), problems)
             for key in ("callbacks", "success_callback", "failure_callback")}
    _warn_unsupported(lists, problems)
    every = {name for names in lists.values() for name in names}
    success = set(lists["callbacks"]) | set(lists["success_callback"])
    failure = set(lists["callbacks"]) | set(lists["failure_callback"])

    otlp = None
    if _disabled(env):
        if every & _OTEL or _endpoint_var(env):
            problems.note("OpenTelemetry: OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none: traces are off")
    elif every & _OTEL or _flag(general.get("otel"), ("general_settings", "otel"), problems) or _endpoint_var(env):
        otlp = _otlp(env, problems)

    langfuse = None
    if every & _LANGFUSE:
        langfuse = _langfuse(env, bool(success & _LANGFUSE), bool(failure & _LANGFUSE), problems)

    wants_content = _flag(general.get("otel_log_content"), ("general_settings", "otel_log_content"), problems)
    # LiteLLM's default: message logging is on unless turned off
    quiet = lit.get("turn_off_message_logging")
    turned_off = _flag(quiet, ("litellm_settings", "turn_off_message_logging"), problems)
    service, resource = _resource(env)
    sampler, ratio = _sampler(env, problems)
    return TelemetrySettings(
        sampler=sampler, ratio=ratio,
        queue_size=_positive(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, problems),
        schedule_delay_ms=_positive(env, "OTEL_BSP_SCHEDULE_DELAY", 5000, problems),
        otlp=otlp, langfuse=langfuse, service_name=service, resource=resource,
        log_content=wants_content and not turned_off,
        tags=tuple(_names(lit.get("langfuse_default_tags"), ("litellm_settings", "langfuse_default_tags"),
                          problems, 'a list of tags, e.g. ["rin", "production"]')),
        unsupported=tuple(sorted(every - _OTEL - _LANGFUSE - _BUILT_IN)),
    )


def _sampler(env: Mapping[str, str], problems: Problems) -> tuple[str, float]:
    """OTEL_TRACES_SAMPLER and its ratio; what the SDK does with a value it doesn't know (the
    default, parent-based always-on) with a note naming the values it takes."""
    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    if name not in SAMPLERS:
        problems.note(f"OpenTelemetry: OTEL_TRACES_SAMPLER={name[:40]!r} is not one RIN implements "
                      f"({', '.join(SAMPLERS)}); using parentbased_always_on")
        return "parentbased_always_on", 1.0
    if not name.endswith("traceidratio"):
        return name, 1.0
    text = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if not text:
        return name, 1.0
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        problems.note(f"OpenTelemetry: OTEL_TRACES_SAMPLER_ARG={text[:20]!r} is not a ratio from 0 to 1 "
                      f"(e.g. 0.25 to trace a quarter of the requests); using 1.0")
        return name, 1.0
    return name, ratio


def _names(value: Any, path: KeyPath, problems: Problems,
           example: str = 'a list of callback names, e.g. ["otel", "langfuse"]') -> list[str]:
    """A list of names. One plain string is one name (LiteLLM also takes a custom callback's
    Python path there, e.g. `custom_callbacks.proxy_handler_instance`)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.error(path, f"must be {example}")
        return []
    return [v.strip() for v in value]


def _warn_unsupported(lists: dict[str, list[str]], problems: Problems) -> None:
    """One warning per callback name RIN does not implement, at its first mention."""
    seen: set[str] = set()
    for key, names in lists.items():
        for index, name in enumerate(names):
            if name in seen or name in _OTEL | _LANGFUSE | _BUILT_IN:
                continue
            seen.add(name)
            what = ("a custom Python callback" if "." in name
                    else "a LiteLLM callback")
            problems.warn(("litellm_settings", key, index),
                          f"'{name}' is {what} RIN does not implement (ignored); "
                          f"RIN implements {', '.join(IMPLEMENTED)}")


def _flag(value: Any, path: KeyPath, problems: Problems) -> bool:
    if value is None:
        return False
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    if not isinstance(value, bool):
        problems.error(path, "must be true or false")
        return False
    return value


def _positive(env: Mapping[str, str], name: str, default: int, problems: Problems) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if text.isdigit() and int(text) > 0:
        return int(text)
    problems.note(f"OpenTelemetry: {name}={text[:20]!r} is not a positive whole number; using {default}")
    return default


def _disabled(env: Mapping[str, str]) -> bool:
    return (env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
            or env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none")


def _endpoint_var(env: Mapping[str, str]) -> str | None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if env.get(name, "").strip():
            return name
    return None


def _otlp(env: Mapping[str, str], problems: Problems) -> OtlpExport | None:
    """The SDK's reading: a signal-specific variable wins over the general one; http/protobuf
    appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT, grpc takes it as it is."""
    protocol_var = next((n for n in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
                         if env.get(n, "").strip()), None)
    protocol = env[protocol_var].strip().lower() if protocol_var else "http/protobuf"
    if protocol not in _PROTOCOLS:
        problems.note(f"OpenTelemetry: {protocol_var}={protocol!r} is not supported (RIN speaks "
                      f"{' or '.join(_PROTOCOLS)}); using http/protobuf")
        protocol = "http/protobuf"
    name = _endpoint_var(env)
    if name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
        endpoint = env[name].strip()
    elif name is not None:
        base = env[name].strip()
        endpoint = base if protocol == "grpc" else base.rstrip("/") + "/v1/traces"
    else:
        endpoint = _OTLP_GRPC if protocol == "grpc" else _OTLP_HTTP + "/v1/traces"
    if not _is_http_url(endpoint):
        problems.note(f"OpenTelemetry: {name} is not an http(s) URL ({_shown(env[name] if name else endpoint)}; e.g. "
                      f"http://localhost:4318); OpenTelemetry traces are off")
        return None
    headers_var = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS" if env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "").strip()
                   else "OTEL_EXPORTER_OTLP_HEADERS")
    return OtlpExport(endpoint=endpoint, protocol=protocol,
                      headers=_pairs(env.get(headers_var, ""), headers_var, problems))


def _langfuse(env: Mapping[str, str], on_success: bool, on_failure: bool, problems: Problems) -> LangfuseExport | None:
    public, secret = env.get("LANGFUSE_PUBLIC_KEY", "").strip(), env.get("LANGFUSE_SECRET_KEY", "").strip()
    missing = [n for n, v in (("LANGFUSE_PUBLIC_KEY", public), ("LANGFUSE_SECRET_KEY", secret)) if not v]
    if missing:
        problems.note(f"Langfuse: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                      "Langfuse logging is off")
        return None
    host_var = "LANGFUSE_HOST" if env.get("LANGFUSE_HOST", "").strip() else "LANGFUSE_BASE_URL"
    host = env.get(host_var, "").strip() or LANGFUSE_HOST
    if not _is_http_url(host):
        problems.note(f"Langfuse: {host_var} is not an http(s) URL ({_shown(host)}); Langfuse logging is off")
        return None
    return LangfuseExport(endpoint=host.rstrip("/") + "/api/public/otel/v1/traces", public_key=public,
                          secret_key=Secret(secret), on_success=on_success, on_failure=on_failure)


def _resource(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    pairs = _pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES", None)
    service = env.get("OTEL_SERVICE_NAME", "").strip() or pairs.pop("service.name", "") or "rin"
    pairs.pop("service.name", None)
    return service, pairs


def _pairs(text: str, var: str, problems: Problems | None) -> dict[str, str]:
    """`k1=v1,k2=v2` with percent-encoded values (the W3C baggage form the SDK reads)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            if problems is not None:  # the value may be a credential: never echoed
                problems.note(f"OpenTelemetry: {var} has an entry that is not name=value (skipped)")
            continue
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _shown(value: str) -> str:
    """An endpoint as a warning may show it: without a user:password part."""
    return "its value holds credentials" if "@" in value else repr(value[:80])
