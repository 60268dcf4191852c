"""Targets, the markdown table, and bench/results/latest.{json,md}."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = [("direct", "direct"), ("floor", "floor"), ("rin", "RIN"), ("litellm", "LiteLLM")]


def _le(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


# (result key, label, check): what RIN has to reach, on one worker.
TARGETS: list[tuple[str, str, Callable[[float], bool]]] = [
    ("added_p50_ms", "≤ 0.5 ms", _le(0.5)),
    ("added_p99_ms", "≤ 1.5 ms", _le(1.5)),
    ("rps", "≥ 3000 req/s", lambda value: value >= 3000),
    ("errors", "0", lambda value: value == 0),
    ("startup_default_s", "≤ 0.5 s", _le(0.5)),
    ("rss_mb", "≤ 100 MB", _le(100.0)),
]

ROWS = [
    ("rps", "throughput at c={concurrency} (req/s)", "{:,.0f}"),
    ("cpu_us_per_request", "server CPU per request under load (µs)", "{:,.0f}"),
    ("cpu_cores", "server CPU cores busy under load", "{:.2f}"),
    ("errors", "errors (non-200, socket) in all runs", "{:d}"),
    ("p50_ms", "latency p50 at c=1 (ms)", None),
    ("p99_ms", "latency p99 at c=1 (ms)", None),
    ("added_p50_ms", "added p50 vs direct (ms)", None),
    ("added_p99_ms", "added p99 vs direct (ms)", None),
    ("ttft_p50_ms", "stream: first token p50 (ms)", None),
    ("added_ttft_p50_ms", "stream: added first-token p50 (ms)", None),
    ("startup_s", "startup, bench config, one start: spawn to first 200 (s)", "{:.2f}"),
    ("startup_default_s", "startup, default config: spawn to first 200, min of the restarts (s)", "{:.3f}"),
    ("startup_default_cpu_s", "startup, default config: CPU to the first 200, min (s)", "{:.3f}"),
    ("startup_rss_mb", "RSS right after the first 200, default config (MB)", "{:.0f}"),
    ("rss_mb", "RSS after the load runs (MB)", "{:.0f}"),
]


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release(), "rin_commit": rin_commit()}


def rin_commit() -> str:
    """The commit measured, with "+dirty" when src/ has uncommitted changes (read-only git)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "src"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def _ms(value: float) -> str:
    if abs(value) < 1:
        return f"{value:.3f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _cell(value: Any, fmt: str | None) -> str:
    if value is None:
        return "—"
    return fmt.format(value) if fmt else _ms(value)


def checks(rin: dict[str, Any]) -> dict[str, bool]:
    return {key: check(rin[key]) for key, _, check in TARGETS if rin.get(key) is not None}


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """RIN over LiteLLM: above 1 is better for throughput, below 1 better for added latency."""
    rin, litellm = results.get("rin") or {}, results.get("litellm") or {}
    out = {}
    for key in ("rps", "cpu_us_per_request", "added_p50_ms", "added_p99_ms", "rss_mb", "startup_s"):
        if rin.get(key) is not None and litellm.get(key):
            out[key] = rin[key] / litellm[key]
    return out


def floor_note(results: dict[str, dict[str, Any]]) -> str | None:
    """How much of RIN's cost is RIN's own code rather than uvicorn + aiohttp."""
    rin, floor = results.get("rin") or {}, results.get("floor") or {}
    if rin.get("p50_ms") is None or floor.get("p50_ms") is None:
        return None
    note = (f"RIN over the floor (same stack, no RIN logic): +{rin['p50_ms'] - floor['p50_ms']:.3f} ms p50")
    if rin.get("rps") and floor.get("rps"):
        note += f", {rin['rps'] / floor['rps']:.0%} of its throughput"
    return note


def markdown(report: dict[str, Any]) -> str:
    """The main table (when a main run was saved), then each scenario's section."""
    parts = [main_markdown(report)] if report.get("results") else []
    for name, section in (report.get("scenarios") or {}).items():
        parts.append(f"## scenario `{name}`\n\n{section.get('markdown', '')}")
    return "\n".join(parts)


def main_markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    shown = [(key, label) for key, label in COLUMNS if key in results]
    rin_checks = report.get("checks", {})
    target_labels = {key: label for key, label, _ in TARGETS}
    header = "| metric | " + " | ".join(label for _, label in shown) + " | RIN target |"
    lines = [header, "|" + " --- |" * (len(shown) + 2)]
    for key, label, fmt in ROWS:
        cells = []
        for column, _ in shown:
            result = results[column]
            cells.append("failed" if "failed" in result and key == "rps" else _cell(result.get(key), fmt))
        target = target_labels.get(key, "")
        if key in rin_checks:
            target += " ✓" if rin_checks[key] else " ✗"
        lines.append(f"| {label.format(**report['settings'])} | " + " | ".join(cells) + f" | {target} |")
    if report.get("ratios"):
        parts = [f"{key} ×{value:.2f}" for key, value in report["ratios"].items()]
        lines.append("")
        lines.append("RIN / LiteLLM: " + ", ".join(parts))
    settings = report["settings"]
    m = report["machine"]
    lines.append("")
    lines.append(f"RIN {m['rin_commit']}; {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}; "
                 f"load: {settings['loadgen']} "
                 f"c={settings['concurrency']} for {settings['duration']} s; latency: "
                 f"{settings['requests']} sequential requests after {settings['warmup']} warm-up; "
                 f"CPU pinning: {settings['pinning']}"
                 + (f"; start-up, default config: {settings['startup_rounds']} restarts, RIN's modules byte-compiled "
                    "first (bench/scenarios/startup.py)" if settings.get("startup_rounds") else "")
                 + (f"; config extra: `{settings['config_extra']}`" if settings.get("config_extra") else ""))
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def load_latest() -> dict[str, Any]:
    try:
        data = json.loads((RESULTS / "latest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(report: dict[str, Any]) -> tuple[Path, Path]:
    """Writes a main run; scenario sections saved earlier are kept (each carries its own date)."""
    previous = load_latest().get("scenarios")
    if previous and "scenarios" not in report:
        report = {**report, "scenarios": previous}
    return _write(report)


def save_scenario(name: str, section: dict[str, Any]) -> tuple[Path, Path]:
    """Adds (or replaces) one scenario's section, keeping the main run and the other scenarios."""
    report = load_latest()
    report.setdefault("scenarios", {})[name] = section
    return _write(report)


def _write(report: dict[str, Any]) -> tuple[Path, Path]:
    RESULTS.mkdir(exist_ok=True)
    json_path, md_path = RESULTS / "latest.json", RESULTS / "latest.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
