"""`python -m bench --protocols` (= `--scenario protocols`): RIN's added latency on the Anthropic
Messages API (POST /v1/messages) and the OpenAI Responses API (POST /v1/responses) beside chat.

One fake upstream (bench.upstream, base `http://127.0.0.1:P/v1`) answers all three protocols:
`/v1/chat/completions`, `/v1/messages`, `/v1/responses`. One RIN with two models at it:

- `bench-model`  → `openai/bench-model`     (RIN posts to `/v1/chat/completions`, or `/v1/responses`)
- `bench-claude` → `anthropic/bench-claude` (RIN posts to `/v1/messages`)

so each client protocol has a native route (messages → bench-claude, responses → bench-model: the
body passes through with only the model swapped) and a translated one (messages → bench-model:
Anthropic ⇄ chat; responses → bench-claude: Responses ⇄ chat ⇄ Anthropic).

At c=1, on one keep-alive connection with the raw-socket client (bench.client), every row runs
`--requests` sequential requests after `--warmup` unmeasured ones (streams too: not a quarter), the
rows interleaved and repeated for `--rounds` rounds so drift hits all of them alike; the samples of
all rounds are pooled into one p50/p99. JSON rows time the whole response; stream rows the first
content token (chat: the first delta with content; messages: the first `content_block_delta`;
responses: the first `response.output_text.delta`).

"added" = the RIN row minus the DIRECT row of the protocol RIN spoke to the upstream (native
messages − direct messages; translated messages − direct chat; native responses − direct responses;
translated responses − direct messages), stream rows against the same stream baseline. "× chat" =
that added p50 over RIN's added p50 on chat (JSON rows over chat JSON, stream rows over chat
stream); target ≤ 1.10 (within 10 % of chat's).

Then wrk at c=`--concurrency` for `--duration` s on RIN for chat, and both routes of messages and
responses (non-streaming): requests/s and RIN's CPU µs a request, against chat.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.client import (CHAT_BODY, STREAM_BODY, Connection, ProtocolError, Response, Timings,
                          measure_sequence, post_request)
from bench.gateways import CHAT_PATH, cpu_seconds
from bench.load import run_load
from bench.scenarios.harness import Ctx, ms, say, table

MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"
ANTHROPIC_KEY = "sk-ant-bench"
ANTHROPIC_HEADERS = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
TARGET_RATIO = 1.10


def config(api_base: str) -> str:
    return ("model_list:\n"
            "  - model_name: bench-model\n"
            f"    litellm_params: {{model: openai/bench-model, api_base: {api_base}, api_key: sk-bench}}\n"
            "  - model_name: bench-claude\n"
            f"    litellm_params: {{model: anthropic/bench-claude, api_base: {api_base}, "
            f"api_key: {ANTHROPIC_KEY}}}\n"
            "router_settings:\n  num_retries: 0\n")


def messages_body(model: str, stream: bool = False) -> str:
    body: dict[str, Any] = {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def responses_body(model: str, stream: bool = False) -> str:
    body: dict[str, Any] = {"model": model, "input": "hi", "store": False}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def _has(pattern: str) -> Callable[[Response], str | None]:
    regex = re.compile(pattern.encode())
    return lambda response: None if regex.search(response.body) else f"200 without {pattern!r}: {response.body[:300]!r}"


# What a correct answer of each protocol contains (a 200 without it counts as an error).
CHECKS = {
    ("chat", False): _has(r'"object"\s*:\s*"chat\.completion"'),
    ("chat", True): _has(r"data: \[DONE\]"),
    ("messages", False): _has(r'"type"\s*:\s*"message"'),
    ("messages", True): _has(r"event: message_stop"),
    ("responses", False): _has(r'"object"\s*:\s*"response"'),
    ("responses", True): _has(r"event: response\.completed"),
}
PATHS = {"chat": CHAT_PATH, "messages": MESSAGES_PATH, "responses": RESPONSES_PATH}


@dataclass
class Row:
    key: str
    label: str
    where: str  # "direct" | "rin"
    protocol: str  # the client's protocol
    stream: bool
    model: str
    upstream: str  # the protocol RIN speaks to the upstream (direct: the same as `protocol`)
    route: str = ""
    ms: list[float] = field(default_factory=list)
    rounds_p50: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    probe: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        return f"direct-{self.upstream}-{'stream' if self.stream else 'json'}"

    def body(self) -> str:
        if self.protocol == "chat":
            return STREAM_BODY if self.stream else CHAT_BODY
        maker = messages_body if self.protocol == "messages" else responses_body
        return maker(self.model, self.stream)

    def raw(self, port: int) -> bytes:
        headers = ANTHROPIC_HEADERS if self.protocol == "messages" else None
        return post_request(port, PATHS[self.protocol], self.body(), headers=headers)

    def percentile(self, p: float) -> float | None:
        return Timings(sorted(self.ms), 0).percentile(p)


def rows() -> list[Row]:
    out = []
    for protocol in ("chat", "messages", "responses"):
        for stream in (False, True):
            kind = "stream" if stream else "json"
            model = "bench-claude" if protocol == "messages" else "bench-model"
            out.append(Row(f"direct-{protocol}-{kind}", f"{protocol} {kind}", "direct", protocol, stream, model,
                           protocol, "upstream directly"))
    for protocol, route, model, upstream in (
            ("chat", "openai/ deployment", "bench-model", "chat"),
            ("messages", "native: anthropic/ deployment", "bench-claude", "messages"),
            ("messages", "translated: openai/ deployment", "bench-model", "chat"),
            ("responses", "native: openai/ deployment", "bench-model", "responses"),
            ("responses", "translated: anthropic/ deployment", "bench-claude", "messages")):
        for stream in (False, True):
            kind = "stream" if stream else "json"
            name = route.split(":")[0] if ":" in route else "chat"
            out.append(Row(f"rin-{protocol}-{name}-{kind}", f"{protocol} {kind}", "rin", protocol, stream, model,
                           upstream, route))
    return out


def probe(ctx: Ctx, row: Row, port: int) -> dict[str, Any]:
    """One request before the timed runs: its status, `x-rin-model`, and which upstream endpoint
    it reached (from the upstream's own counters)."""
    before = ctx.upstream.stats()
    conn = Connection(port, timeout=10)
    try:
        response = conn.request(row.raw(port), watch_tokens=row.protocol if row.stream else False)
    except (OSError, ProtocolError) as err:
        return {"status": None, "error": f"{type(err).__name__}: {err}"}
    finally:
        conn.close()
    after = ctx.upstream.stats()
    hit = [name.removesuffix("_requests") for name in ("chat_requests", "messages_requests", "responses_requests")
           if after[name] > before[name]]
    out: dict[str, Any] = {"status": response.status, "x_rin_model": response.header("x-rin-model"),
                           "upstream_hit": ",".join(hit) or "none"}
    why = None if response.status != 200 else CHECKS[(row.protocol, row.stream)](response)
    if response.status != 200 or why:
        out["error"] = why or f"HTTP {response.status}: {response.body[:600]!r}"
        out["head"] = response.head.decode("latin-1", "replace")[:600]
    elif row.stream and response.first_token_ns is None:
        out["error"] = f"200 but no first token found: {response.body[:300]!r}"
    if row.where == "rin" and hit != [row.upstream]:
        out["error"] = out.get("error") or f"reached upstream {hit or 'nothing'}, expected {row.upstream}"
    return out


def run(ctx: Ctx) -> dict[str, Any]:
    """Messages and Responses API beside chat: RIN's added latency, native and translated."""
    args = ctx.args
    gateway = ctx.rin("protocols", config(ctx.upstream.base_url))
    ports = {"direct": ctx.upstream.port, "rin": gateway.port}
    table_rows = rows()
    broken: list[str] = []
    for row in table_rows:
        row.probe = probe(ctx, row, ports[row.where])
        if "error" in row.probe:
            msg = f"{row.where} {row.label} ({row.route}): {row.probe['error']}"
            broken.append(msg)
            say("PROBE FAILED " + msg)
    if broken:
        ctx.notes.append("RIN log tail:\n" + gateway.log_tail(15))
    for r in range(args.rounds):
        order = table_rows if r % 2 == 0 else table_rows[::-1]
        for row in order:
            if "error" in row.probe:
                continue
            raws = [row.raw(ports[row.where])] * (args.warmup + args.requests)
            timings = measure_sequence(ports[row.where], raws, args.warmup,
                                       stream=row.protocol if row.stream else False,
                                       check=CHECKS[(row.protocol, row.stream)])
            row.ms += timings.ms
            if timings.ms:
                row.rounds_p50.append(timings.percentile(50) or 0.0)
            row.errors += timings.errors
            row.first_error = row.first_error or timings.first_error
        say(f"protocols: round {r + 1}/{args.rounds} done: " + ", ".join(
            f"{row.key} {ms(row.rounds_p50[-1]) if row.rounds_p50 else '—'}" for row in table_rows))
    by_key = {row.key: row for row in table_rows}

    def added(row: Row, p: float) -> float | None:
        mine, base = row.percentile(p), by_key[row.baseline].percentile(p)
        return None if mine is None or base is None else mine - base

    def per_round_added(row: Row) -> list[float]:
        base = by_key[row.baseline].rounds_p50
        return [a - b for a, b in zip(row.rounds_p50, base)]

    chat_added = {s: added(by_key[f"rin-chat-chat-{'stream' if s else 'json'}"], 50) for s in (False, True)}
    chat_rounds = {s: per_round_added(by_key[f"rin-chat-chat-{'stream' if s else 'json'}"]) for s in (False, True)}
    data_rows: list[dict[str, Any]] = []
    md_rows: list[list[Any]] = []
    for row in table_rows:
        p50, p99 = row.percentile(50), row.percentile(99)
        item: dict[str, Any] = {"key": row.key, "where": row.where, "protocol": row.protocol, "stream": row.stream,
                                "route": row.route, "model": row.model, "upstream_protocol": row.upstream,
                                "p50_ms": p50, "p99_ms": p99, "count": len(row.ms), "errors": row.errors,
                                "first_error": row.first_error, "rounds_p50_ms": row.rounds_p50,
                                "probe": row.probe}
        ratio_cell = added50_cell = added99_cell = "—"
        if row.where == "rin":
            a50, a99 = added(row, 50), added(row, 99)
            base_chat = chat_added[row.stream]
            ratio = a50 / base_chat if a50 is not None and base_chat else None
            rounds = [a / c for a, c in zip(per_round_added(row), chat_rounds[row.stream]) if c]
            item.update(baseline=row.baseline, added_p50_ms=a50, added_p99_ms=a99, ratio_to_chat=ratio,
                        ratio_per_round=rounds)
            added50_cell, added99_cell = ms(a50), ms(a99)
            if ratio is not None and row.protocol != "chat":
                ratio_cell = (f"×{ratio:.2f} {'✓' if ratio <= TARGET_RATIO else '✗'} (rounds "
                              + ", ".join(f"{x:.2f}" for x in rounds) + ")")
            elif row.protocol == "chat":
                ratio_cell = "×1 (reference)"
        if "error" in row.probe:
            item["broken"] = row.probe["error"]
        data_rows.append(item)
        upstream = row.probe.get("upstream_hit", "—")
        md_rows.append([
            "DIRECT" if row.where == "direct" else "RIN", row.label,
            row.route if row.where == "rin" else "—",
            f"/v1/{'chat/completions' if upstream == 'chat' else upstream}" if upstream not in ("—", "none") else upstream,
            "BROKEN" if "error" in row.probe else ms(p50), "—" if "error" in row.probe else ms(p99),
            added50_cell, added99_cell, ratio_cell, row.errors])
    md = table(["", "client protocol", "RIN route", "upstream endpoint", "p50 (ms)", "p99 (ms)",
                "added p50", "added p99", "added p50 × chat's (target ≤ 1.10)", "errors"], md_rows)
    md += (f"\n\nc=1, one keep-alive connection, {args.requests} sequential requests a row after {args.warmup} "
           f"warm-up, {args.rounds} interleaved rounds pooled. JSON: the whole response; stream: the first "
           f"content token. added = RIN − DIRECT of the upstream endpoint RIN used (same JSON/stream kind).")
    throughput = _throughput(ctx, gateway) if args.concurrency and args.duration else []
    if throughput:
        chat_rps = throughput[0]["rps"]
        chat_cpu = throughput[0]["cpu_us_per_request"]
        md += "\n\n" + table(
            ["RIN, non-streaming", "route", f"req/s at c={args.concurrency}", "× chat", "CPU µs / request",
             "− chat", "errors"],
            [[t["label"], t["route"], f"{t['rps']:,.0f}", f"×{t['rps'] / chat_rps:.2f}" if chat_rps else "—",
              f"{t['cpu_us_per_request']:.0f}", f"{t['cpu_us_per_request'] - chat_cpu:+.0f}", t["errors"]]
             for t in throughput])
        md += f"\n\nwrk c={args.concurrency} for {args.duration:g} s each, in this order, after a 1 s warm-up each."
    for msg in broken:
        ctx.notes.append("BROKEN: " + msg)
    for row in table_rows:
        if row.first_error:
            ctx.notes.append(f"{row.where} {row.key}: first error: {row.first_error}")
    data = {"rows": data_rows, "chat_added_p50_ms": {"json": chat_added[False], "stream": chat_added[True]},
            "throughput": throughput, "target_ratio": TARGET_RATIO, "broken": broken}
    return {"data": data, "markdown": md}


def _throughput(ctx: Ctx, gateway: Any) -> list[dict[str, Any]]:
    out = []
    for label, route, path, body, headers in (
            ("chat", "openai/", CHAT_PATH, CHAT_BODY, None),
            ("messages", "native: anthropic/", MESSAGES_PATH, messages_body("bench-claude"), ANTHROPIC_HEADERS),
            ("messages", "translated: openai/", MESSAGES_PATH, messages_body("bench-model"), ANTHROPIC_HEADERS),
            ("responses", "native: openai/", RESPONSES_PATH, responses_body("bench-model"), None),
            ("responses", "translated: anthropic/", RESPONSES_PATH, responses_body("bench-claude"), None)):
        url = f"http://127.0.0.1:{gateway.port}{path}"
        try:
            run_load(url, ctx.args.concurrency, 1, tool=ctx.args.loadgen, body=body, headers=headers)
            cpu0 = cpu_seconds(gateway.pid)
            result = run_load(url, ctx.args.concurrency, ctx.args.duration, tool=ctx.args.loadgen, body=body,
                              headers=headers)
        except RuntimeError as err:
            ctx.notes.append(f"throughput {label} ({route}) failed: {err}")
            continue
        cpu = cpu_seconds(gateway.pid) - cpu0
        row = {"label": label, "route": route, "rps": result.rps, "requests": result.requests,
               "errors": result.errors, "cpu_us_per_request": cpu / max(1, result.requests) * 1e6,
               "wrk_p50_ms": result.p50_ms, "wrk_p99_ms": result.p99_ms, "tool": result.tool}
        say(f"protocols: {label} ({route}) {result.rps:,.0f} req/s at c={ctx.args.concurrency}, "
            f"{row['cpu_us_per_request']:.0f} µs CPU a request, {result.errors} errors")
        out.append(row)
    return out
