"""Shown-vs-interacted labels for the learned ranker, joined online in the learner.

An audited list (topic ``audit``) waits ``window_ms`` for the user's interactions; each shown
item the user touched in ``(generated_at, generated_at + window]`` is a positive, every other
shown item a negative. A list closes when its window has passed on the learner's clock, or
when more than ``max_pending`` lists wait (the oldest closes early, so memory stays bounded).

Kafka orders nothing across topics: an interaction read before the audit record of a list it
followed is not credited to that list. The learner reads both topics as they arrive, so this
costs a few labels around restarts, never a wrong positive.

>>> from streamapp.contracts.audit import decode
>>> lists = ShownLists(window_ms=100)
>>> lists.add(decode({"tenant": "t", "user_id": "u", "generated_at": 10,
...                   "items": [{"item_id": "a", "score": 2.0, "source": "recent",
...                              "signals": {"recent": 1.0}, "propensity": 1.0}]}))
>>> lists.interaction("t", "u", "a", 50)
>>> [(p.shown[0].item_id, p.interacted) for p in lists.closed(now_ms=111)]
[('a', {'a'})]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from streamapp.contracts.audit import AuditRecord, attributed
from streamapp.contracts.messages import Ranked

# The interactions that count as a positive, per objective (``Settings.objective``).
POSITIVES = {
    "engagement": frozenset({"click", "fav", "cart_add", "purchase"}),
    "add_to_cart": frozenset({"cart_add", "purchase"}),
    "purchase": frozenset({"purchase"}),
}


def counts(objective: str, interaction: str) -> bool:
    """Whether ``interaction`` is a positive for a tenant whose ranker pursues ``objective``.

    >>> counts("engagement", "click"), counts("purchase", "cart_add")
    (True, False)
    """
    return interaction in POSITIVES[objective]


@dataclass
class ShownList:
    tenant: str
    generated_at: int
    shown: list[Ranked]
    interacted: set[str] = field(default_factory=set)


class ShownLists:
    """Audited lists waiting for their label window to close."""

    def __init__(self, window_ms: int, max_pending: int = 100_000) -> None:
        self.window_ms = window_ms
        self.max_pending = max_pending
        self.by_user: dict[tuple[str, str], list[ShownList]] = {}
        self.order: deque[tuple[tuple[str, str], ShownList]] = deque()

    def add(self, record: AuditRecord) -> None:
        """One audit record (as the worker publishes it)."""
        key = (record.tenant, record.user_id)
        pending = ShownList(record.tenant, record.generated_at, record.items)
        self.by_user.setdefault(key, []).append(pending)
        self.order.append((key, pending))

    def interaction(self, tenant: str, user_id: str, item_id: str, ts: int) -> None:
        for pending in self.by_user.get((tenant, user_id), ()):
            if attributed(pending.generated_at, ts, self.window_ms):
                pending.interacted.add(item_id)

    def closed(self, now_ms: int) -> list[ShownList]:
        """Lists whose window has passed (or that overflowed), oldest first, removed."""
        out = []
        while self.order and (
            len(self.order) > self.max_pending
            or self.order[0][1].generated_at + self.window_ms < now_ms
        ):
            key, pending = self.order.popleft()
            waiting = self.by_user[key]
            waiting.remove(pending)
            if not waiting:
                del self.by_user[key]
            pending.interacted &= {r.item_id for r in pending.shown}
            out.append(pending)
        return out

    def __len__(self) -> int:
        return len(self.order)
