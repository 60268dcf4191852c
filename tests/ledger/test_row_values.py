"""The request path records a row as a bare tuple (rin.runtime.Runtime.finished), not a SpendRow:
these tests pin that tuple's order to the table's columns, through the real ledger and database."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from rin.config import load_config
from rin.ledger import COLUMNS, Ledger, SpendRow
from rin.router import Attempt, RequestState
from rin.runtime import Runtime
from rin.types import ChatRequest, Usage
from tests.ledger.support import row

CONFIG = """\
model_list:
  - model_name: team-model
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-row-values
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
"""


def test_every_column_of_a_finished_request_lands_in_its_own_column(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + f"general_settings:\n  database_url: sqlite:///{tmp_path / 'spend.db'}\n")
    config = load_config(path, env={})
    dep = config.deployments[0]
    req = ChatRequest({"model": "asked-for"}, "asked-for", stream=True, user="user-7", request_id="rid-42",
                      api_key_hash="h" * 64, endpoint="responses")
    state = RequestState(req, deployment=dep, model_group="team-model", fallback_from="first-choice")
    state.attempts += [Attempt("a", "first-choice", "err", 500, 0.1), Attempt("b", "team-model", None, 200, 0.1)]
    usage = Usage(prompt_tokens=100, completion_tokens=50, total_tokens=150, cached_tokens=30, reasoning_tokens=20)

    async def main() -> list[dict]:
        runtime = Runtime(config)
        await runtime.start()
        try:
            runtime.finished(state, usage, "cancelled", TimeoutError())
            assert runtime.ledger is not None
            await runtime.ledger.flush()
            return await runtime.ledger.logs()
        finally:
            await runtime.close()

    [got] = asyncio.run(main())
    assert got["created_at"].endswith("Z") and got["latency_ms"] >= 0
    expected = {
        "request_id": "rid-42", "model": "team-model", "requested_model": "asked-for", "provider": "openai",
        "provider_model": "gpt-4o-mini", "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "cost": Decimal("0.0002"), "cost_source": "config", "status": "cancelled", "attempts": 2,
        "fallback_from": "first-choice", "cache_hit": False, "stream": True, "user": "user-7",
        "api_key_hash": "h" * 64, "deployment_id": dep.id, "error_type": "TimeoutError", "cached_tokens": 30,
        "reasoning_tokens": 20, "endpoint": "responses", "billed_quantity": None, "billed_unit": None,
    }
    assert {k: got[k] for k in expected} == expected
    assert set(got) == set(COLUMNS)


def test_spend_row_values_round_trip_in_column_order(tmp_path: Path) -> None:
    original = row(1, fallback_from="x", api_key_hash="k", error_type="E", cached_tokens=3, reasoning_tokens=4,
                   endpoint="messages", billed_quantity=12.5, billed_unit="seconds")
    values = original.values()
    assert values == tuple(getattr(original, name) for name in COLUMNS)
    assert SpendRow.from_values(values) == original

    async def main() -> list[dict]:
        ledger = Ledger(f"sqlite:///{tmp_path / 'x.db'}")
        await ledger.start()
        ledger.record(original)
        await ledger.flush()
        rows = await ledger.logs()
        await ledger.close()
        return rows

    [stored] = asyncio.run(main())
    assert stored == {name: getattr(original, name) for name in COLUMNS}


def test_a_media_requests_billed_quantity_and_unit_come_from_its_usage(tmp_path: Path) -> None:
    """seconds, characters, images, search units: the first the usage carries; none for tokens."""
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + f"general_settings:\n  database_url: sqlite:///{tmp_path / 'spend.db'}\n")
    config = load_config(path, env={})
    dep = config.deployments[0]
    usages = {
        "r-seconds": Usage(seconds=12.5), "r-characters": Usage(characters=4096), "r-images": Usage(images=2),
        "r-search": Usage(search_units=1), "r-tokens": Usage(prompt_tokens=10, completion_tokens=5),
        "r-none": None,
    }

    async def main() -> dict[str, tuple[object, object]]:
        runtime = Runtime(config)
        await runtime.start()
        try:
            for rid, usage in usages.items():
                req = ChatRequest({"model": "team-model"}, "team-model", request_id=rid)
                runtime.finished(RequestState(req, deployment=dep, model_group="team-model"), usage, "success", None)
            assert runtime.ledger is not None
            await runtime.ledger.flush()
            return {r["request_id"]: (r["billed_quantity"], r["billed_unit"]) for r in await runtime.ledger.logs()}
        finally:
            await runtime.close()

    assert asyncio.run(main()) == {
        "r-seconds": (12.5, "seconds"), "r-characters": (4096.0, "characters"), "r-images": (2.0, "images"),
        "r-search": (1.0, "search_units"), "r-tokens": (None, None), "r-none": (None, None),
    }
