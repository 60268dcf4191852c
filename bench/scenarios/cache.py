"""cache (issue 6): cache-hit latency and throughput, local and Redis."""

from __future__ import annotations

import secrets
from typing import Any

from bench.client import Connection, Response, chat_body, measure_sequence, post_request
from bench.gateways import CHAT_PATH, Gateway, GatewayError
from bench.scenarios.harness import Ctx, config_yaml, latency_row, ms, redis_up, say, sequence, table

CACHE_HIT = "x-rin-cache-hit"


def cache_config(api_base: str, params: str) -> str:
    return config_yaml(api_base, [], "router_settings:\n  num_retries: 0\n"
                                     f"litellm_settings:\n  cache: true\n  cache_params: {params}\n")


def probe_cache(ctx: Ctx, label: str, params: str) -> tuple[Gateway | None, str]:
    """RIN with the cache on, if it starts and answers a repeated request with x-rin-cache-hit."""
    try:
        gateway = ctx.rin(label, cache_config(ctx.upstream.base_url, params))
    except GatewayError as err:
        return None, "RIN did not start with it: " + str(err).splitlines()[0]
    body = chat_body(content=f"cache probe {secrets.token_hex(4)}")
    conn = Connection(gateway.port)
    try:
        first = conn.request(post_request(gateway.port, CHAT_PATH, body))
        second = conn.request(post_request(gateway.port, CHAT_PATH, body))
    finally:
        conn.close()
    if second.status != 200 or (second.header(CACHE_HIT) or "").lower() != "true":
        return None, (f"a repeated request got HTTP {second.status} with {CACHE_HIT}: {second.header(CACHE_HIT)} "
                      f"(first: HTTP {first.status}, {CACHE_HIT}: {first.header(CACHE_HIT)})")
    return gateway, ""


def run(ctx: Ctx) -> dict[str, Any]:
    """Hit vs miss latency at c=1 and hit throughput at c=50, local cache (and Redis if up)."""
    up = ctx.upstream
    run_id = secrets.token_hex(4)
    backends = [("local", "{type: local}")]
    if redis_up():
        backends.append(("redis", f"{{type: redis, host: 127.0.0.1, port: 6379, ttl: 60, "
                                  f"namespace: rin-bench-{run_id}}}"))
    else:
        ctx.notes.append("cache: Redis not reachable on 127.0.0.1:6379, redis column skipped")
    gateways: dict[str, Gateway] = {}
    for name, params in backends:
        gateway, why = probe_cache(ctx, f"cache-{name}", params)
        if gateway is None:
            message = f"cache not available in this build ({name}: {why})"
            say(message)
            if name == "local":
                return {"data": {"available": False, "reason": why}, "markdown": message, "skipped": True}
            ctx.notes.append(message)
            continue
        gateways[name] = gateway
    gateways = {"off": ctx.rin("cache-off", config_yaml(up.base_url, [])), **gateways}
    count, warmup = ctx.args.requests, ctx.args.warmup
    columns: dict[str, dict[str, Any]] = {}
    for name, gateway in gateways.items():
        col: dict[str, Any] = {}

        def is_hit(response: Response, want: bool) -> str | None:
            hit = (response.header(CACHE_HIT) or "").lower() == "true"
            return None if name == "off" or hit == want else f"{CACHE_HIT}: {response.header(CACHE_HIT)}"

        # Misses: every request different (a fresh message), so each goes to the upstream and is stored.
        raws = [post_request(gateway.port, CHAT_PATH, chat_body(content=f"miss {run_id} {name} {i}"))
                for i in range(warmup + count)]
        before = up.stats()["chat_requests"]
        miss = measure_sequence(gateway.port, raws, warmup, check=lambda r: is_hit(r, False))
        col["miss"] = latency_row(miss) | {"upstream_per_request": (up.stats()["chat_requests"] - before) / len(raws)}
        # Hits: the same body every time, stored by one priming request first.
        hit_body = chat_body(content=f"hit {run_id} {name}")
        sequence(gateway.port, hit_body, 1, 0)
        before = up.stats()["chat_requests"]
        hit = sequence(gateway.port, hit_body, count, warmup, check=lambda r: is_hit(r, True))
        col["hit"] = latency_row(hit) | {"upstream_per_request": (up.stats()["chat_requests"] - before) / (count + warmup)}
        before = up.stats()["chat_requests"]
        col["load"] = ctx.load(gateway, body=hit_body)
        col["load"]["upstream_requests"] = up.stats()["chat_requests"] - before
        columns[name] = col
        say(f"cache {name}: miss p50 {ms(col['miss']['p50_ms'])} ms, hit p50 {ms(col['hit']['p50_ms'])} ms, "
            f"{col['load']['rps']:,.0f} req/s on one repeated body, {col['load']['upstream_requests']} of "
            f"them reached the upstream")
    names = list(columns)
    heads = {"off": "cache off (reference)", "local": "cache: local", "redis": "cache: redis"}
    rows = []
    for key, label in (("miss", "miss (new request each time)"), ("hit", "hit (same request)")):
        rows.append([f"{label} p50 at c=1 (ms)"] + [ms(columns[n][key]["p50_ms"]) for n in names])
        rows.append([f"{label} p99 at c=1 (ms)"] + [ms(columns[n][key]["p99_ms"]) for n in names])
        rows.append([f"{label}: upstream calls a request"]
                    + [f"{columns[n][key]['upstream_per_request']:.2f}" for n in names])
    rows.append([f"one repeated request at c={ctx.args.concurrency} (req/s)"]
                + [f"{columns[n]['load']['rps']:,.0f}" for n in names])
    rows.append(["… server CPU µs a request"] + [f"{columns[n]['load']['cpu_us_per_request']:.0f}" for n in names])
    rows.append(["… requests that reached the upstream"] + [columns[n]["load"]["upstream_requests"] for n in names])
    rows.append(["errors (non-200 or wrong x-rin-cache-hit)"]
                + [columns[n]["miss"]["errors"] + columns[n]["hit"]["errors"] + columns[n]["load"]["errors"]
                   for n in names])
    md = table(["metric"] + [heads[n] for n in names], rows)
    md += (f"\n\n{count} sequential requests after {warmup} warm-up on one keep-alive connection; a hit is "
           f"checked by `{CACHE_HIT}: true` on every response. `litellm_settings: {{cache: true, "
           f"cache_params: {{type: local}}}}` (Redis: a namespace of its own, ttl 60 s). The cache-off column "
           f"is the same RIN without a cache: every request goes upstream.")
    for n in names:
        for key in ("miss", "hit"):
            if columns[n][key]["first_error"]:
                ctx.notes.append(f"cache {n} {key}: first error: {columns[n][key]['first_error']}")
    return {"data": {"available": True, "columns": columns}, "markdown": md}
