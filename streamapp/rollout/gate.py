"""The offline gate: before a candidate serves anyone, the latest interactions are replayed
through it and through the promoted model, and it is refused when it ranks them worse beyond a
tolerance.

Each interaction is a question the evaluator asks (:mod:`streamapp.recommend.ranking_metrics`):
given the user's current vector, where does the item they touched rank among each model's
nearest items (NDCG@10)? The candidate learned from some of these events and the promoted one
did not, so the gate favours the candidate; it is a check against broken models (shuffled
vectors, a collapsed factorisation), not a proof of quality — the canary is that. With no
interaction to replay it has no evidence to refuse on, and lets the candidate through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streamapp.brokers import kafka_options
from streamapp.contracts.events import InvalidEvent, Limits, decode
from streamapp.learning.registry import ModelRegistry
from streamapp.learning.serving import ServingModel
from streamapp.ops.log_reader import LogReader
from streamapp.recommend.ranking_metrics import ndcg
from streamapp.settings import Settings
from streamapp.state.store import Store

__all__ = ["GateResult", "offline_gate", "recent_interactions"]

K = 10


@dataclass(frozen=True)
class GateResult:
    candidate: float  # mean NDCG@10 over the replayed interactions
    promoted: float
    interactions: int
    passed: bool
    reason: str

    def evidence(self) -> dict[str, Any]:
        return {
            "ndcg@10_candidate": round(self.candidate, 6),
            "ndcg@10_promoted": round(self.promoted, 6),
            "interactions": self.interactions,
        }


def judge(candidate: float, promoted: float, interactions: int, tolerance: float) -> GateResult:
    """Refused when the candidate's NDCG is below ``(1 − tolerance)`` × the promoted one's.

    >>> judge(0.01, 0.10, 500, 0.2).passed, judge(0.09, 0.10, 500, 0.2).passed
    (False, True)
    """
    floor = promoted * (1 - tolerance)
    if interactions == 0:
        return GateResult(candidate, promoted, 0, True, "no interaction to replay")
    if candidate < floor:
        reason = f"NDCG@10 {candidate:.4f} below {floor:.4f} (promoted {promoted:.4f})"
        return GateResult(candidate, promoted, interactions, False, reason)
    reason = f"NDCG@10 {candidate:.4f} against {promoted:.4f} (floor {floor:.4f})"
    return GateResult(candidate, promoted, interactions, True, reason)


async def recent_interactions(settings: Settings, count: int) -> list[dict[str, Any]]:
    """About the latest ``count`` valid clicks and cart events, read outside any group."""
    limits = Limits(settings.tenants, settings.max_event_bytes, 0, 2**62)
    reader = LogReader(kafka_options(settings), f"{settings.app_id}-gate")
    await reader.start()
    events: list[dict[str, Any]] = []
    try:
        for contract, topic in (("click", "clicks"), ("cart", "carts")):
            partitions = await reader.partitions(settings.topic(topic))
            starts, ends = await reader.bounds(partitions)
            each = max(1, count // (2 * len(partitions)))
            for tp in partitions:
                start = max(starts[tp], ends[tp] - each)
                async for records in reader.read(tp, start, ends[tp], each):
                    for record in records:
                        try:
                            events.append(decode(record.value, contract, limits))
                        except InvalidEvent:
                            continue
    finally:
        await reader.stop()
    return events


async def offline_gate(
    settings: Settings, store: Store, registry: ModelRegistry, candidate: str, promoted: str
) -> GateResult:
    """The candidate against the promoted model on the latest interactions."""
    model = ServingModel(settings.retrieval_min_support, exported=False)
    await model.refresh(registry, named=[candidate, promoted])
    if candidate not in model.roles:
        return GateResult(0.0, 0.0, 0, False, f"{candidate} cannot be loaded")
    events = await recent_interactions(settings, settings.rollout_gate_events)
    vectors = await store.read_user_vectors(sorted({(e["tenant"], e["user_id"]) for e in events}))
    asked = [e for e in events if (e["tenant"], e["user_id"]) in vectors]
    scores = {}
    for version in (candidate, promoted):
        users = [
            (e["tenant"], np.asarray(vectors[(e["tenant"], e["user_id"])]), version) for e in asked
        ]
        hits = model.retrieve(users, K)
        found = [ndcg([i for i, _ in h], e["item_id"], K) for e, h in zip(asked, hits, strict=True)]
        scores[version] = float(np.mean(found)) if found else 0.0
    return judge(scores[candidate], scores[promoted], len(asked), settings.rollout_gate_tolerance)
