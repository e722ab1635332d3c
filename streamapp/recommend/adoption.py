"""Whether the learned ranker serves a tenant: only while it beats the hand weights it re-orders
on that tenant's recent lists.

A learned part that loses to the simple rule it replaces makes the whole system worse than its
own parts (measured on a log the ranker could not generalise from: NDCG@10 0.0167 with it,
0.0180 without). So every labelled list is scored twice *before* the ranker learns from it —
held out from the weights it is judged with (progressive validation) — by NDCG@k of the hand
order and of the ranker's order against the items the user went on to touch, with the
evaluator's metric. Per tenant the last ``window`` informative lists (a touched item among the
candidates the ranker re-orders; the others score 0 either way) are kept, and the ranker is
adopted while the one-sided 95 % lower bound of the mean paired difference is above zero: it
must be shown better, not merely not shown worse, because the hand weights are the safe
default. (Items new to the user keep the hand order among themselves whatever the ranker
says, :func:`streamapp.recommend.learned_ranker.rerank`, so discovery never pays for it.)
The verdict, with its evidence, rides in the snapshot.

>>> from streamapp.contracts.messages import Ranked
>>> adoption = Adoption(window=100, min_lists=10)
>>> shown = [Ranked("a", 2.0, "recent", {"recent": 1.0}),
...          Ranked("b", 1.0, "history", {"history": 1.0})]
>>> for _ in range(20):
...     adoption.observe("shop", *orders(shown, {"history": 5.0}), {"b"})
>>> verdict = adoption.verdict("shop")
>>> verdict.adopted, verdict.lists, verdict.ranker_ndcg, verdict.hand_ndcg
(True, 20, 1.0, 0.6309)
>>> adoption.verdict("other").reason
'0 informative lists, fewer than the 10 a verdict needs'
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from streamapp.contracts.messages import Ranked
from streamapp.recommend.learned_ranker import RERANK_DEPTH, rerank
from streamapp.recommend.ranking_metrics import ndcg_of_set

# The one-sided 95 % normal quantile: the ranker is adopted when its advantage is that sure.
CONFIDENCE_Z = 1.645


@dataclass(frozen=True)
class Verdict:
    """One tenant's decision and its evidence, as the snapshot records it: NDCG@k of both
    orders over the recent lists."""

    adopted: bool
    lists: int
    ranker_ndcg: float
    hand_ndcg: float
    lower_bound: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def orders(shown: list[Ranked], weights: Mapping[str, float]) -> tuple[list[str], list[str]]:
    """A list's candidates in hand order (by hand score, as the weighted sum ranked them,
    whatever order they were shown in) and re-ordered by ``weights``."""
    hand = sorted(shown, key=lambda r: -r.score)[:RERANK_DEPTH]
    return [r.item_id for r in hand], [r.item_id for r in rerank(hand, weights)]


@dataclass
class _Window:
    """The recent pairs and their running sums (a verdict is read at every list)."""

    pairs: deque[tuple[float, float]]
    hand: float = 0.0
    ranker: float = 0.0
    squares: float = 0.0

    def add(self, hand: float, ranker: float) -> None:
        if len(self.pairs) == self.pairs.maxlen:
            self._add(*self.pairs[0], -1.0)
        self.pairs.append((hand, ranker))
        self._add(hand, ranker, 1.0)

    def _add(self, hand: float, ranker: float, sign: float) -> None:
        self.hand += sign * hand
        self.ranker += sign * ranker
        self.squares += sign * (ranker - hand) ** 2

    def summary(self) -> tuple[int, float, float, float]:
        """Lists, the hand's and the ranker's mean NDCG, the standard error of their paired
        difference."""
        n = len(self.pairs)
        if n < 2:
            return n, 0.0, 0.0, 0.0
        hand, ranker = self.hand / n, self.ranker / n
        mean = ranker - hand
        variance = max(self.squares - n * mean * mean, 0.0) / (n - 1)
        return n, hand, ranker, math.sqrt(variance / n)


class Adoption:
    """Paired NDCG of the hand and the ranker's order, per tenant, over its recent lists."""

    def __init__(self, window: int = 2000, min_lists: int = 200, k: int = 10) -> None:
        self.window = window
        self.min_lists = min_lists
        self.k = k
        self.windows: dict[str, _Window] = {}
        self.carried: dict[str, Verdict] = {}

    def carry(self, verdicts: Mapping[str, Mapping[str, Any]]) -> None:
        """A restarted learner keeps the last snapshot's verdicts until it has the evidence
        for new ones (malformed ones are dropped: the hand weights are the default)."""
        for tenant, verdict in verdicts.items():
            try:
                self.carried[tenant] = Verdict(**verdict)
            except TypeError:
                continue

    def observe(
        self, tenant: str, hand: list[str], ranker: list[str], interacted: Collection[str]
    ) -> None:
        """One list, before the ranker learns from it; lists whose candidates hold nothing
        the user touched say nothing about the order and are left out."""
        if not any(item in interacted for item in hand):
            return
        window = self.windows.get(tenant)
        if window is None:
            window = self.windows[tenant] = _Window(deque(maxlen=self.window))
        window.add(ndcg_of_set(hand, interacted, self.k), ndcg_of_set(ranker, interacted, self.k))

    def verdict(self, tenant: str) -> Verdict:
        window = self.windows.get(tenant)
        n, hand, learned, error = window.summary() if window else (0, 0.0, 0.0, 0.0)
        if n < self.min_lists:
            return self.carried.get(tenant) or Verdict(
                False,
                n,
                0.0,
                0.0,
                0.0,
                f"{n} informative lists, fewer than the {self.min_lists} a verdict needs",
            )
        bound = learned - hand - CONFIDENCE_Z * error
        adopted = bound > 0
        reason = "beats" if adopted else "is not shown better than"
        return Verdict(
            adopted,
            n,
            round(learned, 4),
            round(hand, 4),
            round(bound, 5),
            f"the ranker's NDCG@{self.k} {learned:.4f} {reason} the hand weights' {hand:.4f} "
            f"over the last {n} lists",
        )

    def verdicts(self) -> dict[str, Verdict]:
        return {tenant: self.verdict(tenant) for tenant in {*self.carried, *self.windows}}

    def adopted(self, tenant: str) -> bool:
        return self.verdict(tenant).adopted
