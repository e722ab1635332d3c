"""Ranking-quality metrics, as pure functions over plain lists.

Each test event has one relevant item (the item the user interacted with next), so HR@k is
whether it is in the top k, NDCG@k is ``1 / log2(rank + 1)`` and AP@k is ``1 / rank``
(precision at the one relevant position).

>>> hit_rate(["a", "b", "c"], "b", 10), round(ndcg(["a", "b", "c"], "b", 10), 4)
(1.0, 0.6309)
>>> average_precision(["a", "b", "c"], "c", 10), average_precision(["a"], "z", 10)
(0.3333333333333333, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence


def _rank(ranked: Sequence[str], target: str, k: int) -> int | None:
    """1-based position of ``target`` in the top ``k``, or None."""
    for position, item in enumerate(ranked[:k], 1):
        if item == target:
            return position
    return None


def hit_rate(ranked: Sequence[str], target: str, k: int) -> float:
    return 0.0 if _rank(ranked, target, k) is None else 1.0


def ndcg(ranked: Sequence[str], target: str, k: int) -> float:
    """NDCG@k with one relevant item (the ideal DCG is 1)."""
    rank = _rank(ranked, target, k)
    return 0.0 if rank is None else 1.0 / math.log2(rank + 1)


def ndcg_of_set(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """NDCG@k with binary gains for several relevant items (a list's later interactions);
    with one it is :func:`ndcg`.

    >>> round(ndcg_of_set(["a", "b", "c"], {"a", "c"}, 10), 4), ndcg_of_set(["a"], {"a"}, 10)
    (0.9197, 1.0)
    """
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(n + 1) for n, i in enumerate(ranked[:k], 1) if i in relevant)
    ideal = sum(1.0 / math.log2(n + 1) for n in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def average_precision(ranked: Sequence[str], target: str, k: int) -> float:
    """AP@k with one relevant item; its mean over events is MAP@k."""
    rank = _rank(ranked, target, k)
    return 0.0 if rank is None else 1.0 / rank


def novelty(ranked: Iterable[str], counts: Mapping[str, int], total: int) -> float:
    """Mean self-information ``-log2 p(i)`` of recommended items, p from interactions so far.

    Items never seen count as seen once (add-one), so the value stays finite.

    >>> round(novelty(["a", "b"], {"a": 3, "b": 1}, 4), 4)
    1.2075
    """
    items = list(ranked)
    if not items or total <= 0:
        return 0.0
    return sum(-math.log2(max(counts.get(i, 0), 1) / total) for i in items) / len(items)
