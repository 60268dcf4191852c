"""Traces end to end: a real `rin serve` against the fake upstream, exporting to a real OTLP
receiver (HTTP and gRPC) started here, and to a fake Langfuse OTLP endpoint."""

from __future__ import annotations

import base64
import re
import socket
from typing import Any

import anthropic
import orjson
import pytest

from tests.e2e.conftest import KEYS, deployment
from tests.gateway import Gateway, free_port
from tests.telemetry.collector import OtlpGrpcCollector, OtlpHttpCollector, Silent, Span

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
MESSAGES = [{"role": "user", "content": "Say hello"}]
SERVER, CLIENT, ERROR = 2, 3, 2  # SpanKind and Status.code values on the wire
#: short export intervals, so the tests wait for spans for well under a second
FAST = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_SERVICE_NAME": "rin-under-test"}


def config(fake: Any, **litellm: Any) -> dict[str, Any]:
    o = fake.openai_base
    return {
        "model_list": [
            deployment("primary", "openai/trace-primary-fail-503", o),
            deployment("backup", "openai/trace-backup", o),
            deployment("broken", "openai/trace-broken-fail-500", o),
        ],
        "router_settings": {"num_retries": 0, "timeout": 20, "allowed_fails": 1000,
                            "fallbacks": [{"primary": ["backup"]}]},
        "litellm_settings": litellm,
    }


def chat(gw: Gateway, model: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return gw.request("POST", "/v1/chat/completions", {"model": model, "messages": MESSAGES, "user": "alice"},
                      headers=headers)


def of_request(spans: list[Span], request_id: str) -> list[Span]:
    return [s for s in spans if s.attributes.get("rin.request_id") == request_id]


def upstream_traceparents(fake: Any, provider_model: str) -> list[str]:
    return [r.headers.get("traceparent", "") for r in list(fake.requests) if r.model == provider_model]


def no_secret_in(spans: list[Span], *secrets: str) -> None:
    for span in spans:
        text = repr(span.attributes) + repr(span.resource)
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into span {span.name}"
        assert "authorization" not in text.lower()


def test_a_fallback_is_one_request_span_with_an_attempt_span_per_upstream_call(fake, tmp_path):
    fake.reset()
    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    with OtlpHttpCollector() as collector, Gateway(
            config(fake, callbacks=["otel"]), tmp_path,
            env={**KEYS, **FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}) as gw:
        status, headers, _ = chat(gw, "primary", traceparent=traceparent)
        assert status == 200 and headers["x-rin-attempts"] == "2"
        rid = headers["x-rin-request-id"]
        spans = collector.wait_for(lambda got: len(of_request(got, rid)) == 3)
    mine = of_request(spans, rid)
    (request,) = [s for s in mine if s.kind == SERVER]
    attempts = sorted((s for s in mine if s.kind == CLIENT), key=lambda s: s.attributes["rin.attempt"])
    # the client's trace continues: same trace id, the client's span is the parent
    assert request.trace_id == CLIENT_TRACE and request.parent_id == CLIENT_SPAN
    assert all(a.trace_id == CLIENT_TRACE and a.parent_id == request.span_id for a in attempts)
    assert request.resource["service.name"] == "rin-under-test"
    a = request.attributes
    assert request.name == "chat primary"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "primary"
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.response.model"]
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["rin.deployment"] == "openai/trace-backup" and a["rin.model_group"] == "backup"
    assert a["rin.attempts"] == 2 and a["rin.fallback_from"] == "primary"
    assert a["rin.fallback.reason"] == "UpstreamServerError HTTP 503"
    assert a["rin.cache_hit"] is False and a["rin.budget.decision"] == "allowed"
    assert a["rin.request.status"] == "success" and a["http.route"] == "/v1/chat/completions"
    assert a["rin.cost_usd"] >= 0 and a["user.id"] == "alice"
    assert "gen_ai.input.messages" not in a  # content logging is off by default
    first, second = attempts
    assert first.attributes["rin.deployment"] == "openai/trace-primary-fail-503"
    assert first.attributes["http.response.status_code"] == 503 and first.status_code == ERROR
    assert first.attributes["error.type"] == "UpstreamServerError"
    assert second.attributes["rin.deployment"] == "openai/trace-backup"
    assert second.attributes["rin.fallback_from"] == "primary"
    assert second.attributes["http.response.status_code"] == 200 and second.status_code != ERROR
    assert request.start <= first.start <= first.end <= second.start <= request.end
    # each upstream call carried its attempt span's context in the client's trace
    for model, span in (("trace-primary-fail-503", first), ("trace-backup", second)):
        assert upstream_traceparents(fake, model) == [f"00-{CLIENT_TRACE}-{span.span_id}-01"]
    no_secret_in(mine, KEYS["OPENAI_API_KEY"])


def test_grpc_export_with_the_standard_variables_and_a_stream(fake, tmp_path):
    fake.reset()
    env = {**KEYS, **FAST, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
           "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=collector%20secret"}
    with OtlpGrpcCollector() as collector, Gateway(
            config(fake, success_callback=["otel"]), tmp_path,
            env={**env, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}) as gw:
        client = gw.openai()
        raw = client.chat.completions.with_raw_response.create(model="backup", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        assert text
        rid = raw.headers["x-rin-request-id"]
        spans = collector.wait_for(lambda got: len(of_request(got, rid)) == 2)
        assert collector.headers[0]["x-collector-key"] == "collector secret"
    (request,) = [s for s in of_request(spans, rid) if s.kind == SERVER]
    (attempt,) = [s for s in of_request(spans, rid) if s.kind == CLIENT]
    assert not request.parent_id and attempt.parent_id == request.span_id  # a new trace
    assert request.attributes["rin.stream"] is True and request.attributes["gen_ai.response.model"]
    assert request.attributes["gen_ai.response.finish_reasons"] == ["stop"]  # read off the relayed chunks
    assert "gen_ai.output.messages" not in request.attributes  # content logging is off
    assert attempt.end <= request.end
    (sent,) = upstream_traceparents(fake, "trace-backup")
    assert sent[:-3] == f"00-{request.trace_id}-{attempt.span_id}" and int(sent[-2:], 16) & 1  # sampled
    no_secret_in(of_request(spans, rid), KEYS["OPENAI_API_KEY"], "collector secret")


def test_langfuse_gets_generations_with_basic_auth_and_no_collector_headers(fake, tmp_path):
    fake.reset()
    secret = "sk-lf-canary-1234"
    with OtlpHttpCollector(path="/api/public/otel/v1/traces") as langfuse, Gateway(
            {**config(fake, success_callback=["langfuse"], langfuse_default_tags=["rin-test"]),
             "general_settings": {"otel_log_content": True}}, tmp_path,
            env={**KEYS, **FAST, "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": secret,
                 "LANGFUSE_HOST": langfuse.endpoint + "/",
                 "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=collector-only"}) as gw:
        failed = chat(gw, "broken")
        assert failed[0] >= 500
        status, headers, _ = chat(gw, "primary")
        assert status == 200
        rid = headers["x-rin-request-id"]
        claude = anthropic.Anthropic(base_url=gw.base_url, api_key="sk-anything", max_retries=0)
        with claude.messages.stream(model="backup", max_tokens=64, messages=MESSAGES) as stream:
            streamed_text = "".join(stream.text_stream)
            streamed_id = stream.response.headers["x-rin-request-id"]
        assert streamed_text
        spans = langfuse.wait_for(lambda got: len(of_request(got, rid)) == 3 and of_request(got, streamed_id))
        sent_headers = list(langfuse.headers)
    expected = "Basic " + base64.b64encode(f"pk-lf-test:{secret}".encode()).decode()
    assert all(h["authorization"] == expected for h in sent_headers)
    assert all("x-collector-key" not in h for h in sent_headers)
    # success_callback only: the failed request never reached Langfuse
    assert of_request(spans, failed[1]["x-rin-request-id"]) == []
    (generation,) = [s for s in of_request(spans, rid) if s.kind == SERVER]
    a = generation.attributes
    assert a["langfuse.observation.type"] == "generation"
    assert a["gen_ai.request.model"] == "primary" and a["gen_ai.response.model"]
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.cost"] >= 0
    assert a["user.id"] == "alice" and a["langfuse.trace.tags"] == ["rin-test"]
    assert a["langfuse.observation.metadata.request_id"] == rid
    assert a["langfuse.observation.metadata.deployment"] == "openai/trace-backup"
    assert "Say hello" in a["langfuse.observation.input"] and a["langfuse.observation.output"]
    assert generation.end > generation.start  # Langfuse's latency
    # a streamed answer, through the Anthropic protocol: its text and stop reason, as the client saw them
    (streamed,) = [s for s in of_request(spans, streamed_id) if s.kind == SERVER]
    b = streamed.attributes
    assert b["rin.stream"] is True and b["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert orjson.loads(b["langfuse.observation.output"]) == [{"role": "assistant", "content": streamed_text}]
    assert b["gen_ai.output.messages"] == b["langfuse.observation.output"]
    assert {s.attributes["langfuse.observation.type"] for s in of_request(spans, rid) if s.kind == CLIENT} == {"span"}
    no_secret_in(spans, secret, KEYS["OPENAI_API_KEY"], "collector-only")


def _metric(text: str, name: str, destination: str) -> float:
    match = re.search(rf'^{name}{{destination="{destination}"}} (\S+)$', text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _closed_port() -> str:
    port = free_port()
    with socket.socket() as s:  # nothing listens there once free_port() returned
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("kind", ["nothing listening", "accepts and never answers"])
def test_a_dead_collector_costs_requests_nothing_and_full_queues_are_counted(fake, tmp_path, kind):
    silent = Silent()
    with silent:
        endpoint = _closed_port() if kind == "nothing listening" else silent.endpoint
        env = {**KEYS, **FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_MAX_QUEUE_SIZE": "4",
               "OTEL_EXPORTER_OTLP_TIMEOUT": "30"}
        with Gateway(config(fake, callbacks=["otel"]), tmp_path, env=env) as gw:
            for _ in range(12):
                status, _, body = chat(gw, "backup")
                assert status == 200 and b"choices" in body
            stream = gw.openai().chat.completions.create(model="backup", messages=MESSAGES, stream=True)
            assert any(c.choices and c.choices[0].delta.content for c in stream)
            status, _, metrics = gw.request("GET", "/metrics")
        assert status == 200
        text = metrics.decode()
        # 26 spans into a queue of 4 whose exports cannot finish: most were dropped, and counted
        assert _metric(text, "rin_telemetry_spans_dropped_total", "otlp") > 0
        assert _metric(text, "rin_telemetry_spans_exported_total", "otlp") == 0
        if kind == "accepts and never answers":
            assert silent.accepted >= 1


def test_without_the_otel_packages_a_warning_names_the_install_and_requests_still_work(fake, tmp_path):
    # `python -m rin` puts its working directory first on sys.path: an empty package there hides
    # the installed OpenTelemetry, as on a machine without the extra
    (tmp_path / "opentelemetry").mkdir(parents=True)
    (tmp_path / "opentelemetry" / "__init__.py").write_text("")
    with Gateway(config(fake, callbacks=["otel"]), tmp_path, env=KEYS) as gw:
        status, _, _ = chat(gw, "backup")
        assert status == 200
        _, _, metrics = gw.request("GET", "/metrics")
        log = gw.log()
    assert "pip install 'rin[otel]'" in log and "serving without traces" in log
    assert b"rin_telemetry" not in metrics


def test_cache_hits_and_budget_fallbacks_are_traced(fake, tmp_path):
    fake.reset()
    cfg = config(fake, callbacks=["otel"], cache=True)
    # a deployment whose own budget can't cover a request: the router falls back to `backup`
    cfg["model_list"].append(deployment("capped", "openai/trace-capped", fake.openai_base,
                                        max_budget=0.0000001, budget_duration="1d",
                                        input_cost_per_token=0.01, output_cost_per_token=0.01))
    cfg["router_settings"]["fallbacks"].append({"capped": ["backup"]})
    with OtlpHttpCollector() as collector, Gateway(
            cfg, tmp_path, env={**KEYS, **FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}) as gw:
        first, second = chat(gw, "backup"), chat(gw, "backup")
        assert second[1]["x-rin-cache-hit"] == "true"
        capped = chat(gw, "capped")
        assert capped[0] == 200 and capped[1]["x-rin-model"] == "openai/trace-backup"
        ids = [r[1]["x-rin-request-id"] for r in (first, second, capped)]
        spans = collector.wait_for(lambda got: all(of_request(got, rid) for rid in ids)
                                   and len(of_request(got, ids[2])) == 2)
    (hit,) = of_request(spans, ids[1])
    assert hit.attributes["rin.cache_hit"] is True and hit.attributes["rin.attempts"] == 0
    assert hit.attributes["rin.budget.decision"] == "not_checked"
    assert hit.attributes["rin.deployment"] == "openai/trace-backup"
    (request,) = [s for s in of_request(spans, ids[2]) if s.kind == SERVER]
    assert request.attributes["rin.budget.decision"] == "fallback"
    assert request.attributes["rin.fallback_from"] == "capped"
    assert request.attributes["rin.fallback.reason"] == "budget"
    assert upstream_traceparents(fake, "trace-capped") == []  # refused before any call


def test_otel_traces_sampler_keeps_the_share_of_traces_it_names_and_forwards_only_those(fake, tmp_path):
    """OTEL_TRACES_SAMPLER=traceidratio, OTEL_TRACES_SAMPLER_ARG=0.5: a trace id whose low 64 bits
    are under half of 2^64 is traced (and its context goes upstream) whatever the client's sampled
    flag says; one over it is not, even flagged sampled."""
    fake.reset()
    kept_trace, dropped_trace = "0af7651916cd43dd" + "0000000000000abc", "0af7651916cd43dd" + "ffffffffffff0abc"
    with OtlpHttpCollector() as collector, Gateway(
            config(fake, callbacks=["otel"]), tmp_path,
            env={**KEYS, **FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                 "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"}) as gw:
        dropped = chat(gw, "backup", traceparent=f"00-{dropped_trace}-{CLIENT_SPAN}-01")
        kept = chat(gw, "backup", traceparent=f"00-{kept_trace}-{CLIENT_SPAN}-00")
        assert dropped[0] == kept[0] == 200
        spans = collector.wait_for(lambda got: len(of_request(got, kept[1]["x-rin-request-id"])) == 2)
        # the kept request's spans arrived; the dropped one's, sent before it, would have come with them
        assert of_request(spans, dropped[1]["x-rin-request-id"]) == []
    request, attempt = sorted(of_request(spans, kept[1]["x-rin-request-id"]), key=lambda s: s.kind)
    assert request.trace_id == kept_trace and request.parent_id == CLIENT_SPAN
    sent = upstream_traceparents(fake, "trace-backup")
    assert sent == ["", f"00-{kept_trace}-{attempt.span_id}-01"]  # in request order; sampled from here on
