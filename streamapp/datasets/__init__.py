"""Real event logs: finding and reading them (:mod:`.catalog`) and replaying them into Kafka
(:mod:`.replay`), for the demo, the evaluator and the benchmarks alike."""

from __future__ import annotations

from streamapp.datasets.catalog import KINDS, NAMED_LOGS, READERS, Interaction, load, locate

__all__ = ["KINDS", "NAMED_LOGS", "READERS", "Interaction", "load", "locate"]
