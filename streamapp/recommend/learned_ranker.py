"""The learned ranker: re-orders the hand-weighted top candidates by P(interaction | shown).

Two stages, because the hand weights are a good recall stage and a cheap one: the weighted sum
picks the top ``RERANK_DEPTH`` candidates, then a logistic model over their per-source signals
(each normalised to [0, 1] by the user's strongest candidate), source indicators and pairwise
products of signals (an item both just viewed *and* co-visited is not the sum of the two) orders
them. Labels come from what was shown and what the user did next ("shown vs interacted"): the
learner joins the sampled audit lists with later interactions; the evaluator uses each test
event's own list.

Learning uses River's ``LogisticRegression``; serving only needs its weights (a plain dict in
the snapshot), so :func:`score` and :func:`rerank` are pure functions the worker and the
evaluator share. With no weights learned every score ties and the hand order stands.

>>> ranker = LearnedRanker(learning_rate=0.05, l2=1e-4)
>>> shown = [Ranked("a", 2.0, "recent", {"recent": 1.0}),
...          Ranked("b", 1.0, "popular", {"popular": 1.0})]
>>> for _ in range(50):
...     ranker.learn(shown, {"b"})
>>> [r.item_id for r in rerank(shown, ranker.weights())]
['b', 'a']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from river import linear_model, optim

from streamapp.contracts.messages import Ranked
from streamapp.recommend.scoring import session_position

# How many hand-ranked candidates the learned ranker re-orders.
RERANK_DEPTH = 30
BIAS = "bias"


@cache
def _indicator(source: str) -> str:
    return f"in:{source}"


@cache
def _pair(a: str, b: str) -> str:
    return f"{a}*{b}"


@cache
def _session_feature(recent: float) -> str:
    """Single positions for the newest items, wider bins further back."""
    position = session_position(recent)
    if position < 3:
        return f"session@{position}"
    return "session@3-4" if position < 5 else "session@5-9" if position < 10 else "session@10+"


def features(signals: Mapping[str, float], prior: float = 1.0) -> dict[str, float]:
    """The hand score relative to the list's best (``prior``), the signals, which sources
    proposed the item, products of signal pairs, and the item's session position as an
    indicator: whether shoppers return to the item they just viewed (REES46: most repeats) or
    never do (Taobao: no repeat is of the last item) is not a monotone function of recency, so
    the model learns each position's worth itself.

    >>> sorted(features({"recent": 0.8, "covisit": 1.0}, 0.5))
    ['covisit', 'covisit*recent', 'in:covisit', 'in:recent', 'prior', 'recent', 'session@1']
    """
    names = sorted(signals)
    out: dict[str, float] = {"prior": prior}
    if "recent" in signals:
        out[_session_feature(signals["recent"])] = 1.0
    for i, a in enumerate(names):
        out[a] = signals[a]
        out[_indicator(a)] = 1.0
        for b in names[i + 1 :]:
            out[_pair(a, b)] = signals[a] * signals[b]
    return out


def score(weights: Mapping[str, float], signals: Mapping[str, float], prior: float) -> float:
    """The model's log-odds that the item is interacted with once shown: the weighted sum of
    :func:`features`, computed without building them (it runs for 30 items of every list)."""
    get = weights.get
    total = get(BIAS, 0.0) + get("prior", 0.0) * prior
    if "recent" in signals:
        total += get(_session_feature(signals["recent"]), 0.0)
    names = sorted(signals)
    for i, a in enumerate(names):
        value = signals[a]
        total += get(a, 0.0) * value + get(_indicator(a), 0.0)
        for b in names[i + 1 :]:
            total += get(_pair(a, b), 0.0) * value * signals[b]
    return total


def rerank(ranked: list[Ranked], weights: Mapping[str, float]) -> list[Ranked]:
    """``ranked`` (hand order, with signals) re-ordered by learned score; ties keep hand order.

    The ranker orders the user's own items (session, history) and decides which slots go to
    items new to the user; those keep the hand order among themselves. Its labels are mostly
    repeats where shoppers return to what they viewed, and ordering new items itself cost
    discovery (REES46, test part: NDCG@10 on new items 0.0624 with the hand order, 0.0585
    with the ranker's) while the repeats are where it wins. Items without signals
    (catalogue fill) stay behind every scored item.

    >>> own = Ranked("own", 1.0, "recent", {"recent": 1.0})
    >>> n1 = Ranked("n1", 3.0, "covisit", {"covisit": 1.0})
    >>> n2 = Ranked("n2", 2.0, "popular", {"popular": 1.0})
    >>> [r.item_id for r in rerank([n1, n2, own], {"recent": 5.0, "popular": 2.0})]
    ['own', 'n1', 'n2']
    """
    if not weights:
        return ranked
    top = _top_score(ranked)
    keyed = [
        (-score(weights, r.signals, r.score / top) if r.signals else float("inf"), n, r)
        for n, r in enumerate(ranked)
    ]
    keyed.sort(key=lambda t: (t[0], t[1]))
    new = iter([r for r in ranked if not _own(r)])
    return [r if _own(r) else next(new) for _, _, r in keyed]


def _own(item: Ranked) -> bool:
    """Whether the user has touched the item before: their session or history proposed it."""
    return "recent" in item.signals or "history" in item.signals


def _top_score(ranked: Iterable[Ranked]) -> float:
    """The hand score the ``prior`` feature is relative to (so it lies in [0, 1])."""
    return max((r.score for r in ranked), default=0.0) or 1.0


class LearnedRanker:
    """Online logistic regression on shown items labelled by later interaction. Its step and
    L2 penalty come from the settings (``STREAMAPP_RANKER_LEARNING_RATE``, ``_L2``), the one
    place that chooses them."""

    def __init__(self, learning_rate: float, l2: float) -> None:
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2)
        self.examples = 0

    def learn(self, shown: Iterable[Ranked], interacted: set[str]) -> None:
        """One list: every shown item with signals is an example, positive if interacted."""
        shown = list(shown)
        top = _top_score(shown)
        for item in shown:
            if item.signals:
                self.model.learn_one(
                    features(item.signals, item.score / top), item.item_id in interacted
                )
                self.examples += 1

    def warm_start(self, weights: dict[str, float], examples: int) -> None:
        """Continue from published weights (a restarted learner keeps what it had learned)."""
        if not weights:
            return
        self.model.intercept = weights.get(BIAS, 0.0)
        for name, value in weights.items():
            if name != BIAS:
                self.model._weights[name] = value
        self.examples = max(examples, 1)

    def weights(self) -> dict[str, float]:
        """What serving needs: the feature weights and the bias (empty before any example)."""
        if not self.examples:
            return {}
        return {**{k: float(v) for k, v in self.model.weights.items()}, BIAS: self.model.intercept}
