"""The audit record of a published list — why it is what it is — written by the worker and
read back by the learner (labels for the ranker) and the evaluator (off-policy estimates).

One codec for both ends, and one attribution window: an interaction counts for a list when it
comes after the list was generated and within the window.

>>> from streamapp.contracts.messages import Ranked
>>> head = {"user_id": "u", "tenant": "t", "generated_at": 10}
>>> raw = encode(head, 0.1, 5, [Ranked("a", 2.0, "recent", {"recent": 1.0})], [])
>>> record = decode(orjson.loads(raw))
>>> record.items[0].item_id, record.exploration, attributed(record.generated_at, 50, 100)
('a', 0.1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streamapp.contracts.messages import Ranked

__all__ = ["AuditRecord", "attributed", "decode", "encode"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited list: whose, when, under which exploration share, the items shown (with
    their signals and propensities) and the last slot's action set before exploration."""

    tenant: str
    user_id: str
    generated_at: int
    exploration: float
    items: list[Ranked]
    slot: list[Ranked]


def encode(
    head: dict[str, Any],
    exploration: float,
    candidates: int,
    shown: list[Ranked],
    slot: list[Ranked],
) -> bytes:
    """The audit record of one published list (``head``: its user, tenant, version, trigger).

    ``slot`` is the last slot's action set before exploration: the ranking's own pick first,
    then the items exploration draws from.
    """
    return orjson.dumps(
        {
            **head,
            "exploration": exploration,
            "candidates": candidates,
            "items": [
                {
                    "item_id": r.item_id,
                    "position": n,
                    "source": r.source,
                    "score": round(r.score, 6),
                    "signals": r.signals,
                    "propensity": r.propensity,
                }
                for n, r in enumerate(shown, 1)
            ],
            "slot": [
                {"item_id": r.item_id, "score": round(r.score, 6), "signals": r.signals}
                for r in slot
            ],
        }
    )


def _ranked(item: dict[str, Any]) -> Ranked:
    """An item of a record; older records lack the slot's source and propensity."""
    return Ranked(
        str(item["item_id"]),
        float(item.get("score", 0.0)),
        str(item.get("source", "")),
        {str(k): float(v) for k, v in item.get("signals", {}).items()},
        float(item.get("propensity", 1.0)),
    )


def decode(record: dict[str, Any]) -> AuditRecord:
    """A record as read from the ``audit`` topic (JSON already parsed)."""
    return AuditRecord(
        tenant=str(record.get("tenant", "default")),
        user_id=str(record["user_id"]),
        generated_at=int(record["generated_at"]),
        exploration=float(record.get("exploration", 0.0)),
        items=[_ranked(i) for i in record.get("items") or ()],
        slot=[_ranked(i) for i in record.get("slot") or ()],
    )


def attributed(generated_at: int, ts: int, window_ms: int) -> bool:
    """Whether an interaction at ``ts`` counts for a list generated at ``generated_at``."""
    return generated_at < ts <= generated_at + window_ms
