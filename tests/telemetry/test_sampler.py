"""OTEL_TRACES_SAMPLER's decisions (rin.telemetry.tracing.Sampler), as the SDK's built-in samplers
make them: the parent-based ones follow a client's sampled flag, the ratio ones a trace id's low
64 bits."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk", reason="tracing needs the otel extra (installed by make test)")

from rin.telemetry.tracing import Sampler  # noqa: E402

LOW = 0x0123456789ABCDEF_0000000000000001   # low 64 bits near 0: under any ratio above 0
HIGH = 0x0123456789ABCDEF_FFFFFFFFFFFFFFFF  # low 64 bits at the top: over any ratio below 1
PARENT = 0x00F067AA0BA902B7


@pytest.mark.parametrize("name, expected", [
    # (no parent, sampled parent, unsampled parent) for a trace id under and over a ratio of 0.5
    ("always_on", [(True, True, True), (True, True, True)]),
    ("always_off", [(False, False, False), (False, False, False)]),
    ("traceidratio", [(True, True, True), (False, False, False)]),
    ("parentbased_always_on", [(True, True, False), (True, True, False)]),
    ("parentbased_always_off", [(False, True, False), (False, True, False)]),
    ("parentbased_traceidratio", [(True, True, False), (False, True, False)]),
])
def test_each_sampler_with_and_without_a_parent(name: str, expected: list[tuple[bool, bool, bool]]) -> None:
    sample = Sampler(name, 0.5)
    for trace_id, want in zip((LOW, HIGH), expected, strict=True):
        assert (sample(trace_id, 0, True), sample(trace_id, PARENT, True), sample(trace_id, PARENT, False)) == want


def test_a_ratio_keeps_that_share_of_trace_ids_and_the_same_ones_every_time() -> None:
    ids = [(i << 64) | (i * 0x9E3779B97F4A7C15 & ((1 << 64) - 1)) for i in range(1, 4001)]
    quarter = Sampler("traceidratio", 0.25)
    kept = [t for t in ids if quarter(t, 0, True)]
    assert 900 <= len(kept) <= 1100
    assert kept == [t for t in ids if Sampler("traceidratio", 0.25)(t, 0, True)]
    assert not any(Sampler("traceidratio", 0.0)(t, 0, True) for t in ids)
    assert all(Sampler("traceidratio", 1.0)(t, 0, True) for t in ids)
    # a lower ratio keeps a subset of what a higher one keeps (a trace kept at 10 % is kept at 25 %)
    assert {t for t in ids if Sampler("traceidratio", 0.1)(t, 0, True)} <= set(kept)
