"""Where the slow requests spent their time: `rin serve` with timing probes, from outside RIN's code.

    python -m bench.probe run OUT.json -- serve --config C --port P   # rin serve, probed
    python -m bench.probe report OUT.json [--from-s 2]                # what the slowest requests overlapped

`run` wraps, in this process only and before the server starts, the points where the event loop can
lose time, and records each one's start and end (perf_counter, µs) in memory; the record is written
to OUT.json when the server shuts down (SIGTERM):

- requests: App.http entry and exit, and the upstream call inside it (Transport.send);
- garbage collections: gc.callbacks, with the generation;
- the ledger: each writer cycle (Ledger._cycle), each batch handed to the writer process
  (WriterProcess.write) and each step of its JSON framing on the loop (orjson.dumps in the writer);
- the keys' refresh (KeyRing.refresh);
- event-loop lag: a timer every 5 ms notes when it fires more than 0.5 ms late.

RIN itself carries no probe: nothing here runs unless the gateway is started through this module.

`report`, for a c=1 run, gives each request the window from the previous request's end to its own
end (at c=1 a client's request waits for everything the loop did in that window), takes the slowest
1 % and 0.1 %, and says what they overlapped, beside how often any window does: an event that is in
most slow windows and few ordinary ones is a cause.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

now = time.perf_counter


def _us() -> float:
    return now() * 1e6


class Probe:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.requests: list[tuple[float, float, float, float]] = []
        self.events: dict[str, list[tuple[float, float]]] = {}
        self.lag: list[tuple[float, float]] = []
        self._gc_start = 0.0
        self._open: dict[int, list[float]] = {}

    def event(self, kind: str, start: float, end: float) -> None:
        self.events.setdefault(kind, []).append((start, end))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = _us()
        else:
            self.event(f"gc{info['generation']}", self._gc_start, _us())

    def install(self) -> None:
        from rin.keys.ring import KeyRing
        from rin.ledger import ledger as ledger_mod
        from rin.ledger import writer as writer_mod
        from rin.server.app import App
        from rin.transport import Transport

        probe = self
        gc.callbacks.append(self.on_gc)

        http = App.http

        async def timed_http(app: Any, scope: Any, receive: Any, send: Any) -> None:
            task = id(asyncio.current_task())
            rec = probe._open[task] = [_us(), 0.0, 0.0, time.thread_time()]
            try:
                await http(app, scope, receive, send)
            finally:
                del probe._open[task]
                probe.requests.append((rec[0], _us(), rec[1], rec[2], (time.thread_time() - rec[3]) * 1e6))

        App.http = timed_http  # type: ignore[method-assign]

        send_up = Transport.send

        async def timed_send(transport: Any, *args: Any, **kwargs: Any) -> Any:
            rec = probe._open.get(id(asyncio.current_task()))
            began = _us()
            try:
                return await send_up(transport, *args, **kwargs)
            finally:
                if rec is not None:
                    rec[1], rec[2] = began, _us()

        Transport.send = timed_send  # type: ignore[method-assign]

        def wrap_async(owner: Any, name: str, kind: str) -> None:
            original = getattr(owner, name)

            async def timed(*args: Any, **kwargs: Any) -> Any:
                began = _us()
                try:
                    return await original(*args, **kwargs)
                finally:
                    probe.event(kind, began, _us())

            setattr(owner, name, timed)

        wrap_async(ledger_mod.Ledger, "_cycle", "ledger_cycle")
        wrap_async(writer_mod.WriterProcess, "write", "writer_batch")
        wrap_async(KeyRing, "refresh", "keys_refresh")

        class TimedJson:
            """orjson for rin.ledger.writer, each dumps (one framing step on the loop) an event"""
            loads = staticmethod(orjson.loads)

            @staticmethod
            def dumps(*args: Any, **kwargs: Any) -> bytes:
                began = _us()
                try:
                    return orjson.dumps(*args, **kwargs)
                finally:
                    probe.event("ledger_frame", began, _us())

        writer_mod.orjson = TimedJson  # type: ignore[assignment]

        startup = App.lifespan

        async def lifespan(app: Any, receive: Any, send: Any) -> None:
            asyncio.get_running_loop().call_later(0.005, probe._tick, now() + 0.005)
            await startup(app, receive, send)
            probe.dump()  # after the shutdown: the process then ends by its signal, without atexit

        App.lifespan = lifespan  # type: ignore[method-assign]

        from rin.runtime import Runtime

        close = Runtime.close

        async def census_then_close(runtime: Any) -> None:
            probe.census()
            await close(runtime)

        Runtime.close = census_then_close  # type: ignore[method-assign]

    def _tick(self, due: float) -> None:
        late = now() - due
        if late > 0.0005:
            self.lag.append((due * 1e6, late * 1e6))
        asyncio.get_running_loop().call_later(0.005, self._tick, now() + 0.005)

    def census(self) -> None:
        """What the collector walks (objects not frozen), by type: taken as shutdown begins."""
        from collections import Counter

        kinds = Counter(type(o).__name__ for o in gc.get_objects())
        self.heap = {"tracked": sum(kinds.values()), "by_type": kinds.most_common(12),
                     "frozen": gc.get_freeze_count(), "stats": gc.get_stats()}

    def dump(self) -> None:
        self.out.write_text(json.dumps({"requests": self.requests, "events": self.events, "lag": self.lag,
                                        "heap": getattr(self, "heap", None)}))


def run(out: Path, rin_argv: list[str]) -> int:
    from rin.cli import main

    Probe(out).install()
    return main(rin_argv)


def _overlap(spans: list[tuple[float, float]], starts: list[float], lo: float, hi: float) -> float:
    """Total µs of `spans` (sorted by start) inside [lo, hi]."""
    total = 0.0
    i = bisect.bisect_left(starts, lo - 1e6)  # no span is longer than a second
    while i < len(spans) and spans[i][0] <= hi:
        s, e = spans[i]
        total += max(0.0, min(e, hi) - max(s, lo))
        i += 1
    return total


def report(path: Path, skip_s: float) -> str:
    data = json.loads(path.read_text())
    reqs = sorted(data["requests"])
    if not reqs:
        return "no requests recorded"
    t0 = reqs[0][0] + skip_s * 1e6
    reqs = [r for r in reqs if r[0] >= t0]
    events = {k: sorted(v) for k, v in data["events"].items()}
    events["lag>0.5ms"] = sorted((due, due + late) for due, late in data["lag"])
    starts = {k: [s for s, _ in v] for k, v in events.items()}
    windows = []  # (window µs, server µs, upstream µs, lo, hi, main thread CPU µs)
    for prev, cur in zip(reqs, reqs[1:]):
        lo, hi = prev[1], cur[1]
        up = cur[3] - cur[2] if cur[2] else 0.0
        windows.append((hi - lo, cur[1] - cur[0], up, lo, hi, cur[4]))
    by_len = sorted(windows)
    n = len(windows)
    lines = [f"{n} windows (c=1: previous request's end -> this one's end) after the first {skip_s:g} s; "
             f"window p50 {by_len[n // 2][0]:.0f} µs, p99 {by_len[int(n * 0.99)][0]:.0f}, "
             f"p99.9 {by_len[min(n - 1, int(n * 0.999))][0]:.0f}, max {by_len[-1][0]:.0f}"]
    for kind, spans in sorted(events.items()):
        durs = [e - s for s, e in spans]
        if durs:
            lines.append(f"event {kind}: {len(durs)} times, {len(durs) / ((reqs[-1][1] - reqs[0][0]) / 1e6):.2f}/s, "
                         f"duration median {statistics.median(durs):.0f} µs, max {max(durs):.0f} µs")
    for label, share in (("slowest 1%", 0.01), ("slowest 0.1%", 0.001)):
        cut = by_len[int(n * (1 - share))][0]
        slow = [w for w in windows if w[0] >= cut]
        lines.append(f"\n{label}: {len(slow)} windows ≥ {cut:.0f} µs; server time median "
                     f"{statistics.median(w[1] for w in slow):.0f} µs (all: {statistics.median(w[1] for w in windows):.0f}), "
                     f"upstream median {statistics.median(w[2] for w in slow):.0f} µs "
                     f"(all: {statistics.median(w[2] for w in windows):.0f}), the request's main-thread CPU "
                     f"median {statistics.median(w[5] for w in slow):.0f} µs "
                     f"(all: {statistics.median(w[5] for w in windows):.0f})")
        for kind, spans in sorted(events.items()):
            hit_slow = [_overlap(spans, starts[kind], w[3], w[4]) for w in slow]
            in_slow = sum(1 for x in hit_slow if x > 0)
            in_all = sum(1 for w in windows if _overlap(spans, starts[kind], w[3], w[4]) > 0)
            if in_slow:
                lines.append(f"  {kind}: in {in_slow}/{len(slow)} slow windows ({in_slow / len(slow):.0%}) vs "
                             f"{in_all / n:.1%} of all; overlap in those median "
                             f"{statistics.median(x for x in hit_slow if x > 0):.0f} µs")
        unexplained = [w for w, x in zip(slow, [sum(_overlap(events[k], starts[k], w[3], w[4]) for k in events)
                                                 for w in slow]) if x == 0]
        lines.append(f"  with none of these: {len(unexplained)}/{len(slow)}")
    lines.append(f"\nas shutdown began, the collector's view (frozen objects aside): {data.get('heap')}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("rin_argv", nargs=argparse.REMAINDER)
    p = sub.add_parser("report")
    p.add_argument("out", type=Path)
    p.add_argument("--from-s", type=float, default=2.0, help="skip this many seconds at the start (2)")
    args = parser.parse_args()
    if args.cmd == "run":
        argv = args.rin_argv[1:] if args.rin_argv[:1] == ["--"] else args.rin_argv
        return run(args.out, argv)
    print(report(args.out, args.from_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
