"""The collector for a long-running server: off while `rin serve` starts, tuned once it has."""

from __future__ import annotations

import gc


#: objects allocated, net of those freed, before a young-generation collection (CPython: 700)
GC_THRESHOLD = 10_000


def tune_gc() -> None:
    """Freezes what start-up built and turns the collector on, collecting less often.

    `rin serve` turns the collector off before its imports (rin.cli): with ~600 modules loading, it
    ran some 130 times for nothing (40 to 80 ms of a 0.5 s start). Freezing moves every object alive
    now (modules, classes, the config, the router) out of the collector's view for good, without
    walking them (a full collection here took 30 to 60 ms before the socket was bound), so later
    collections, full ones included, walk only what serving allocates: the few unreachable start-up
    cycles frozen with them are the price. The threshold: a request allocates and frees a few
    hundred tracked objects; with 50 in flight the net count crosses CPython's 700 all the time, and
    those collections took ~15% of the event loop's time under load. At 10,000 the steady state
    stays under it: the collector runs when garbage really accumulates."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)
    gc.enable()
