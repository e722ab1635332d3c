"""Candidate generation, the in-stock filter and scoring, as pure functions.

The worker and the evaluator call the same functions on plain values gathered from state.
Each candidate source yields a signal per item; every signal is normalised by its maximum over
the user's candidates, so forward-decayed magnitudes (which grow with time) never leak into
the weights; the score is a configurable weighted sum and an item's source is the signal that
contributed most to it.

>>> ranked = rank({"covisit": {"a": 2.0}, "popular": {"b": 5.0, "c": 1.0}},
...               {"covisit": 1.0, "popular": 0.5}, exclude={"c"}, limit=3)
>>> [(r.item_id, r.source, round(r.score, 2)) for r in ranked]
[('a', 'covisit', 1.0), ('b', 'popular', 0.5)]
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from streamapp.contracts.messages import Ranked

# How much a recent item's co-visits count, by its position in the session (0 = newest).
RECENCY_DISCOUNT = 0.8
_LOG_DISCOUNT = math.log(RECENCY_DISCOUNT)

# How much each older new arrival of a category counts, by arrival order (0 = newest).
NEW_ARRIVAL_DISCOUNT = 0.9

# Signals by source, then by item: {"covisit": {"i1": 3.2, ...}, "popular": {...}}.
Signals = dict[str, dict[str, float]]


def recent_signal(out: Signals, recent: Iterable[str]) -> None:
    """The user's own session, newest first: shoppers come back to what they just viewed."""
    signal = out.setdefault("recent", {})
    weight = 1.0
    for item in recent:
        signal[item] = weight
        weight *= RECENCY_DISCOUNT


def session_position(recent: float) -> int:
    """The session position (0 = newest) a ``recent`` signal value stands for.

    >>> [session_position(RECENCY_DISCOUNT**n) for n in (0, 1, 7, 19)]
    [0, 1, 7, 19]
    """
    return round(math.log(recent) / _LOG_DISCOUNT) if recent > 0 else 0


def history_signal(out: Signals, history: Iterable[tuple[str, float]]) -> None:
    """The user's decayed interest in items they interacted with, beyond the session."""
    out.setdefault("history", {}).update(history)


def covisit_signal(
    out: Signals, covisit: Iterable[Iterable[tuple[str, float]]], source: str = "covisit"
) -> None:
    """Sum co-visitation counts over the session, newer session items counting more; the
    ``sequence`` source (items viewed right after each session item) sums the same way."""
    signal = out.setdefault(source, {})
    weight = 1.0
    for neighbours in covisit:
        for item, count in neighbours:
            signal[item] = signal.get(item, 0.0) + weight * count
        weight *= RECENCY_DISCOUNT


def cosine_signal(
    out: Signals,
    session: Iterable[str],
    covisit: Iterable[Iterable[tuple[str, float]]],
    popularity: Mapping[str, float],
) -> None:
    """Co-visitation normalised by both items' popularity, count / sqrt(pop(a) · pop(b)):
    raw counts favour items that co-occur with everything because everyone views them; this
    favours what goes with *this* item. An item outside the bounded popularity table is taken
    to be at least as popular as its count says. Newer session items count more.

    >>> out = {}
    >>> cosine_signal(out, ["a"], [[("hit", 4.0), ("match", 2.0)]],
    ...               {"a": 4.0, "hit": 100.0, "match": 4.0})
    >>> sorted(out["cosine"].items())
    [('hit', 0.2), ('match', 0.5)]
    """
    signal = out.setdefault("cosine", {})
    weight = 1.0
    for item, neighbours in zip(session, covisit, strict=False):
        row = list(neighbours)
        base = max(popularity.get(item, 0.0), max((c for _, c in row), default=0.0))
        for other, count in row:
            scale = math.sqrt(base * max(popularity.get(other, 0.0), count))
            if scale > 0:
                signal[other] = signal.get(other, 0.0) + weight * count / scale
        weight *= RECENCY_DISCOUNT


def category_signal(
    out: Signals,
    categories: list[tuple[str, float]],
    category_popular: Iterable[list[tuple[str, float]]],
) -> None:
    """The user's category shares times each category's own (max-normalised) popularity."""
    total = sum(affinity for _, affinity in categories)
    if total <= 0:
        return
    signal = out.setdefault("category", {})
    for (_, affinity), items in zip(categories, category_popular, strict=False):
        if not items:
            continue
        scale = affinity / total / (max(score for _, score in items) or 1.0)
        for item, score in items:
            signal[item] = signal.get(item, 0.0) + scale * score


def new_signal(
    out: Signals,
    categories: list[tuple[str, float]],
    category_new: Iterable[list[tuple[str, float]]],
) -> None:
    """Cold start for items: in-stock items nobody has touched yet, in the user's categories —
    the only evidence for them is their content (category), so they rank by the user's share
    of that category, newer arrivals first.

    >>> out = {}
    >>> arrivals = [[("s2", 9.0), ("s1", 5.0)], [("h1", 7.0)]]
    >>> new_signal(out, [("shoes", 3.0), ("hats", 1.0)], arrivals)
    >>> {item: round(v, 3) for item, v in out["new"].items()}
    {'s2': 0.75, 's1': 0.675, 'h1': 0.25}
    """
    total = sum(affinity for _, affinity in categories)
    if total <= 0:
        return
    signal = out.setdefault("new", {})
    for (_, affinity), items in zip(categories, category_new, strict=False):
        share = affinity / total
        for position, (item, _) in enumerate(items):
            value = share * NEW_ARRIVAL_DISCOUNT**position
            if value > signal.get(item, 0.0):
                signal[item] = value


def mf_signal(out: Signals, retrieved: Iterable[tuple[str, float]]) -> None:
    """Items nearest the user's vector in the factorisation model (retrieval scores)."""
    out.setdefault("mf", {}).update(retrieved)


def popular_signal(out: Signals, popular: Iterable[tuple[str, float]]) -> None:
    """Global decayed popularity."""
    out.setdefault("popular", {}).update(popular)


def rank(
    candidates: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    exclude: set[str],
    limit: int,
    explain: bool = False,
) -> list[Ranked]:
    """Score, filter and order candidates; ties broken by item id so output is deterministic.

    Sources are attributed for the top ``limit`` only: it is the hot path of every list. Each
    item's normalised signals are attached only with ``explain`` (for the sampled audit and
    the learned ranker).
    """
    peaks: dict[str, float] = {}
    scales: dict[str, float] = {}
    for name, signal in candidates.items():
        peak = max(signal.values(), default=0.0)
        if peak > 0 and weights.get(name, 0.0):
            peaks[name] = peak
            scales[name] = weights[name] / peak
    totals: dict[str, float] = {}
    for name, scale in scales.items():
        for item, value in candidates[name].items():
            totals[item] = totals.get(item, 0.0) + scale * value
    for item in exclude:
        totals.pop(item, None)
    ranked = []
    for item, total in _top(totals, limit):
        source, strongest = "", -math.inf
        signals = {}
        for name, scale in scales.items():
            found = candidates[name].get(item)
            if found is None:
                continue
            if scale * found > strongest:
                source, strongest = name, scale * found
            if explain:
                signals[name] = found / peaks[name]
        ranked.append(Ranked(item, total, source, signals))
    return ranked


def _top(totals: dict[str, float], limit: int) -> list[tuple[str, float]]:
    """The ``limit`` best (item, score) by score, then item id. The limit-th best score is
    found on the bare values (C speed); only items at or above it are sorted."""
    if len(totals) <= limit:
        return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    floor = heapq.nlargest(limit, totals.values())[-1]
    contenders = [(item, score) for item, score in totals.items() if score >= floor]
    contenders.sort(key=lambda kv: (-kv[1], kv[0]))
    return contenders[:limit]


def content_signals(
    ranked: list[Ranked],
    recent: Iterable[str],
    prices: Mapping[str, float],
    margins: Mapping[str, float],
) -> None:
    """Add what the product table says to each item's signals, for the learned ranker:
    ``price_fit`` (1 when the item costs what the user's recent items cost — the median of
    their log prices — falling as the ratio grows) and ``margin`` (clipped to [0, 1], margin
    being a fraction of the price). Not sources: the hand weights never see them.

    >>> ranked = [Ranked("a", 1.0, "covisit", {"covisit": 1.0}), Ranked("b", 0.5, "popular", {})]
    >>> content_signals(ranked, ["r1"], {"r1": 10.0, "a": 10.0}, {"b": 1.4})
    >>> ranked[0].signals["price_fit"], ranked[1].signals
    (1.0, {'margin': 1.0})
    """
    known = sorted(math.log1p(prices[i]) for i in recent if i in prices)
    reference = known[len(known) // 2] if known else None
    for r in ranked:
        price = prices.get(r.item_id)
        if reference is not None and price is not None:
            r.signals["price_fit"] = math.exp(-abs(math.log1p(price) - reference))
        margin = margins.get(r.item_id)
        if margin is not None:
            r.signals["margin"] = min(max(margin, 0.0), 1.0)


def explore(ranked: list[Ranked], k: int, share: float, rng: random.Random) -> list[Ranked]:
    """The top ``k``, whose last slot goes, with probability ``share``, to an item drawn
    uniformly from the ranked tail (positions k and after) — so off-line estimators see
    items the ranking alone would never show. Each item carries its propensity.

    >>> tail = [Ranked(i, 0.0, "popular") for i in "abcd"]
    >>> [(r.item_id, r.propensity) for r in explore(tail, 2, 0.0, random.Random(1))]
    [('a', 1.0), ('b', 1.0)]
    """
    top = ranked[:k]
    pool = ranked[k:]
    if share <= 0 or not pool or len(top) < k:
        return top
    last = top[-1]
    if rng.random() < share:
        pick = pool[rng.randrange(len(pool))]
        top[-1] = replace(pick, propensity=share / len(pool))
    else:
        top[-1] = replace(last, propensity=1.0 - share)
    return top


def top_up(
    present: Iterable[str],
    candidates: Iterable[tuple[str, float]],
    exclude: Collection[str],
    room: int,
) -> list[tuple[str, float]]:
    """Up to ``room`` of ``candidates``, in their order, neither present nor excluded: the one
    rule the worker's catalogue fill and the HTTP popularity top-up share.

    >>> top_up(["a"], [("a", 3.0), ("b", 2.0), ("c", 1.0), ("d", 0.5)], {"c"}, 2)
    [('b', 2.0), ('d', 0.5)]
    """
    taken = set(present)
    out: list[tuple[str, float]] = []
    for item_id, score in candidates:
        if len(out) >= room:
            break
        if item_id not in taken and item_id not in exclude:
            out.append((item_id, score))
            taken.add(item_id)
    return out


def fill(ranked: list[Ranked], catalog: Iterable[str], exclude: set[str], limit: int) -> None:
    """Top up a short list from in-stock catalogue items, so no list is empty while any exist."""
    extra = top_up(
        (r.item_id for r in ranked), ((i, 0.0) for i in catalog), exclude, limit - len(ranked)
    )
    ranked.extend(Ranked(item_id, score, "catalog") for item_id, score in extra)
