"""From gathered state to a ranked list: the functions serving and evaluation share.

>>> from streamapp.state.types import TenantSignals, UserSignals
>>> user = UserSignals("default", "u1", ["a"], [[("b", 3.0), ("c", 1.0)]], [], [], {"c"})
>>> shop = TenantSignals(popular=[("d", 9.0)], catalog=["e"], blocked={"b"})
>>> [(r.item_id, r.source) for r in recommend_user(user, shop, {"covisit": 1, "popular": .2}, 3)]
[('d', 'popular'), ('e', 'catalog')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streamapp.contracts.messages import Ranked
from streamapp.recommend.learned_ranker import RERANK_DEPTH, rerank
from streamapp.recommend.scoring import (
    Signals,
    category_signal,
    content_signals,
    cosine_signal,
    covisit_signal,
    fill,
    history_signal,
    mf_signal,
    new_signal,
    popular_signal,
    rank,
    recent_signal,
)
from streamapp.state.types import TenantSignals, UserSignals


def candidates_for(
    user: UserSignals,
    tenant: TenantSignals,
    retrieved: Iterable[tuple[str, float]] = (),
    cosine: bool = True,
) -> Signals:
    """Every source's candidates with their signals. ``retrieved`` are the items nearest the
    user's vector (the ``mf`` source), when a model is loaded; ``cosine`` is False when no
    weight set uses that source (its popularity was not gathered)."""
    candidates: Signals = {}
    recent_signal(candidates, user.recent)
    history_signal(candidates, user.history)
    covisit_signal(candidates, user.covisit)
    if cosine:
        cosine_signal(candidates, user.recent, user.covisit, tenant.popularity)
    covisit_signal(candidates, user.sequence, "sequence")
    mf_signal(candidates, retrieved)
    category_signal(candidates, user.categories, user.category_popular)
    new_signal(candidates, user.categories, user.category_new)
    popular_signal(candidates, tenant.popular)
    return candidates


def choose(
    candidates: Signals,
    user: UserSignals,
    tenant: TenantSignals,
    weights: Mapping[str, float],
    limit: int,
    explain: bool = False,
    ranker: Mapping[str, float] | None = None,
) -> list[Ranked]:
    """Drop blocked (out of stock) and purchased candidates → top ``limit``.

    Falls back to in-stock catalogue items, so the list is empty only when nothing is in stock.
    ``explain`` attaches each item's signals and its price fit and margin (what the audit topic
    records, and the learner learns from). ``ranker`` (learned weights, :mod:`.learned_ranker`)
    re-orders the hand-weighted top candidates; their signals are then always attached, since
    the ranker reads them.
    """
    exclude = tenant.blocked | user.purchased
    explain = explain or bool(ranker)
    ranked = rank(
        candidates, weights, exclude, max(limit, RERANK_DEPTH) if ranker else limit, explain
    )
    if explain:
        content_signals(ranked, user.recent, tenant.prices, tenant.margins)
    if ranker:
        ranked = rerank(ranked, ranker)
        del ranked[limit:]
    fill(ranked, tenant.catalog, exclude, limit)
    return ranked


def recommend_user(
    user: UserSignals,
    tenant: TenantSignals,
    weights: Mapping[str, float],
    limit: int,
    retrieved: Iterable[tuple[str, float]] = (),
    explain: bool = False,
    ranker: Mapping[str, float] | None = None,
) -> list[Ranked]:
    """Candidates from every source, then :func:`choose`: what the evaluator calls per event;
    the worker calls the two halves batch-wide so each is a traced stage."""
    return choose(
        candidates_for(user, tenant, retrieved), user, tenant, weights, limit, explain, ranker
    )
