"""Candidate generation, the in-stock filter and scoring, as pure functions.

The worker and the evaluator call the same functions on plain values gathered from state.
Each candidate source yields signals; every signal is normalised by its maximum over the
user's candidates, so forward-decayed magnitudes (which grow with time) never leak into the
weights; the score is a configurable weighted sum and an item's source is the signal that
contributed most to it.

>>> ranked = rank({"a": {"covisit": 2.0}, "b": {"popular": 5.0}, "c": {"popular": 1.0}},
...               {"covisit": 1.0, "popular": 0.5}, exclude={"c"}, limit=3)
>>> [(r.item_id, r.source, round(r.score, 2)) for r in ranked]
[('a', 'covisit', 1.0), ('b', 'popular', 0.5)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SOURCES = ("covisit", "category", "popular", "catalog")

# How much a recent item's co-visits count, by its position in the session (0 = newest).
RECENCY_DISCOUNT = 0.8

Signals = dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class Ranked:
    """One recommended item, with the score and the source that explain it."""

    item_id: str
    score: float
    source: str


def covisit_signal(out: Signals, covisit: Iterable[Iterable[tuple[str, float]]]) -> None:
    """Sum co-visitation counts over the session, newer session items counting more."""
    weight = 1.0
    for neighbours in covisit:
        for item, count in neighbours:
            slot = out.setdefault(item, {})
            slot["covisit"] = slot.get("covisit", 0.0) + weight * count
        weight *= RECENCY_DISCOUNT


def category_signal(
    out: Signals,
    categories: list[tuple[str, float]],
    category_popular: Iterable[Iterable[tuple[str, float]]],
) -> None:
    """The user's category shares times each category's own (max-normalised) popularity."""
    total = sum(affinity for _, affinity in categories)
    if total <= 0:
        return
    for (_, affinity), popular in zip(categories, category_popular, strict=False):
        items = list(popular)
        if not items:
            continue
        top = max(score for _, score in items) or 1.0
        share = affinity / total
        for item, score in items:
            slot = out.setdefault(item, {})
            slot["category"] = slot.get("category", 0.0) + share * score / top


def popular_signal(out: Signals, popular: Iterable[tuple[str, float]]) -> None:
    """Global decayed popularity."""
    for item, score in popular:
        out.setdefault(item, {})["popular"] = score


def rank(
    candidates: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float],
    exclude: set[str],
    limit: int,
) -> list[Ranked]:
    """Score, filter and order candidates; ties broken by item id so output is deterministic."""
    tops: dict[str, float] = defaultdict(float)
    for signals in candidates.values():
        for name, value in signals.items():
            tops[name] = max(tops[name], value)
    scored: list[Ranked] = []
    for item, signals in candidates.items():
        if item in exclude:
            continue
        best, source, total = -1.0, "popular", 0.0
        for name, value in signals.items():
            top = tops[name]
            part = weights.get(name, 0.0) * (value / top if top > 0 else 0.0)
            total += part
            if part > best:
                best, source = part, name
        scored.append(Ranked(item, total, source))
    scored.sort(key=lambda r: (-r.score, r.item_id))
    return scored[:limit]


def fill(ranked: list[Ranked], catalog: Iterable[str], exclude: set[str], limit: int) -> None:
    """Top up a short list from in-stock catalogue items, so no list is empty while any exist."""
    present = {r.item_id for r in ranked}
    for item in catalog:
        if len(ranked) >= limit:
            return
        if item not in present and item not in exclude:
            ranked.append(Ranked(item, 0.0, "catalog"))
            present.add(item)
