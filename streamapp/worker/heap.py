"""Garbage-collector settings for long-running processes with a latency target.

CPython's full collection walks every tracked object, and a worker holds ≈150k of them once
Faust, aiokafka, River, numpy and OpenTelemetry are imported: each full collection stalls every
list in flight for tens of milliseconds. Start-up's objects (modules, classes, services: never
garbage) are moved out of the collector's sight once start-up is over (``gc.freeze``), and
collections run less often (``THRESHOLDS``). The cost is cyclic garbage living longer; the hot
path makes little (records, dicts and lists freed by reference counting). What each change
gained, measured: docs/performance.md.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 20, 100)


def tune_collector() -> None:
    """Collect once, freeze the survivors, and collect less often from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
