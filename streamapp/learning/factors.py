"""Online matrix factorisation on implicit feedback, on River's FunkMF.

Every interaction is a positive for (user, item); negatives are sampled in proportion to recent
popularity (uniformly from a ring of recent positives — popular items are in it more often),
so the model learns "this user rather than a random shopper". Each tenant has its own ring: a
negative is always an item of the positive's own shop, so one shop's catalogue never shapes
another's vectors. Two losses:

* ``pointwise``: River's own ``FunkMF.learn_one`` with the logistic loss, the positive repeated
  by its interaction weight, each negative once;
* ``pairwise`` (BPR, Rendle et al. 2009): one step on ``-log σ(u·(i − j))`` per sampled
  negative ``j``, written against FunkMF's latent tables (River has no pairwise recommender).

>>> mf = ImplicitMF(n_factors=4, seed=1)
>>> for _ in range(200):
...     mf.learn_one("u", "liked", 1.0)
...     mf.learn_one("v", "other", 1.0)
>>> mf.score("u", "liked") > mf.score("u", "other")
True
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np
from river import optim, reco


class ImplicitMF:
    """User and item vectors learned one interaction at a time."""

    def __init__(
        self,
        n_factors: int = 32,
        learning_rate: float = 0.05,
        l2: float = 1e-4,
        loss: str = "pairwise",
        negatives: int = 3,
        memory: int = 10_000,
        seed: int = 0,
        users_max: int = 100_000,
        items_max: int = 200_000,
    ) -> None:
        if loss not in ("pairwise", "pointwise"):
            raise ValueError(f"loss must be 'pairwise' or 'pointwise', not {loss!r}")
        self.model = reco.FunkMF(
            n_factors=n_factors,
            optimizer=optim.SGD(learning_rate),
            loss=optim.losses.Log(),
            l2=l2,
            initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
            seed=seed,
        )
        self.loss = loss
        self.learning_rate = learning_rate
        self.l2 = l2
        self.negatives = negatives
        # Per tenant (``group``), a ring of recent positives and where it is written next.
        self.recent: dict[str, list[str]] = {}
        self.memory = memory
        self.cursor: dict[str, int] = {}
        self.rng = random.Random(seed)
        self.events = 0
        self.support: dict[str, int] = {}
        # Least recently learned first: beyond these bounds the idlest vectors are dropped. A
        # user's vector is in Redis too (the learner restores it); an item's comes back fresh.
        self.users_max = users_max
        self.items_max = items_max
        self._users: OrderedDict[str, None] = OrderedDict()
        self._items: OrderedDict[str, None] = OrderedDict()

    def negative(self, positive: str, group: str = "") -> str | None:
        """An item of ``group`` (the tenant) drawn in proportion to its recent popularity,
        other than ``positive``."""
        recent = self.recent.get(group)
        if not recent:
            return None
        for _ in range(5):
            candidate = recent[self.rng.randrange(len(recent))]
            if candidate != positive and candidate in self.model.i_latents:
                return candidate
        return None

    def learn_one(self, user: str, item: str, weight: float, group: str = "") -> None:
        """Learn that ``user`` interacted with ``item`` (``weight``: click 1, purchase more),
        both of tenant ``group``."""
        self.events += 1
        self.support[item] = self.support.get(item, 0) + 1
        # Materialise both vectors even when no negative can be drawn yet (the first events),
        # so every item seen is retrievable.
        self.model.u_latents[user] = self.model.u_latents[user]
        self.model.i_latents[item] = self.model.i_latents[item]
        negatives = [n for n in (self.negative(item, group) for _ in range(self.negatives)) if n]
        if self.loss == "pointwise":
            for _ in range(max(1, round(weight))):
                self.model.learn_one(user, item, True)
            for negative in negatives:
                self.model.learn_one(user, negative, False)
        else:
            for negative in negatives:
                self._bpr_step(user, item, negative, weight)
        recent = self.recent.setdefault(group, [])
        if len(recent) < self.memory:
            recent.append(item)
        else:
            at = self.cursor.get(group, 0)
            recent[at] = item
            self.cursor[group] = (at + 1) % self.memory
        self._touch(self._users, user, self.users_max, self.model.u_latents)
        if self._touch(self._items, item, self.items_max, self.model.i_latents):
            self.support = {i: n for i, n in self.support.items() if i in self.model.i_latents}

    @staticmethod
    def _touch(
        recency: OrderedDict[str, None], key: str, bound: int, vectors: MutableMapping[Any, Any]
    ) -> bool:
        """Mark ``key`` as just learned; drop the idlest beyond ``bound`` (True if any went).

        Dropping in tenths keeps it rare: rebuilding ``support`` is then amortised."""
        recency[key] = None
        recency.move_to_end(key)
        if len(recency) <= bound:
            return False
        for _ in range(len(recency) - bound + bound // 10):
            idle, _ = recency.popitem(last=False)
            vectors.pop(idle, None)
        return True

    def load_items(
        self, ids: Sequence[str], vectors: np.ndarray, support: Sequence[int] | None
    ) -> None:
        """Item vectors (and their support) from a snapshot, as the least recently learned."""
        for item, vector in zip(ids, vectors, strict=True):
            self.model.i_latents[item] = vector.astype(np.float64)
            self._items[item] = None
        if support is not None:
            self.support = dict(zip(ids, support, strict=True))

    def forget_users(self) -> None:
        """Drop every user vector (a drift: tastes moved)."""
        self.model.u_latents.clear()
        self._users.clear()

    def _bpr_step(self, user: str, positive: str, negative: str, weight: float) -> None:
        u = self.model.u_latents[user]
        p = self.model.i_latents[positive]
        n = self.model.i_latents[negative]
        x = float(u @ (p - n))
        g = weight / (1.0 + math.exp(min(x, 30.0)))  # σ(-x), scaled by the interaction weight
        lr, l2 = self.learning_rate, self.l2
        self.model.u_latents[user] = u + lr * (g * (p - n) - l2 * u)
        self.model.i_latents[positive] = p + lr * (g * u - l2 * p)
        self.model.i_latents[negative] = n + lr * (-g * u - l2 * n)

    def score(self, user: str, item: str) -> float:
        """Predicted affinity; 0 for a user or item never seen."""
        if user not in self.model.u_latents or item not in self.model.i_latents:
            return 0.0
        return float(self.model.u_latents[user] @ self.model.i_latents[item])

    def user_vector(self, user: str) -> np.ndarray | None:
        """The user's vector, or None (no vector is created for an unknown user)."""
        return self.model.u_latents.get(user)

    def item_vectors(self) -> tuple[Sequence[str], np.ndarray]:
        """All item ids and their vectors as one matrix (for a retrieval index)."""
        ids = [str(i) for i in self.model.i_latents]
        if not ids:
            return [], np.zeros((0, self.model.n_factors), dtype=np.float32)
        return ids, np.stack([self.model.i_latents[i] for i in ids]).astype(np.float32)

    def supports(self, ids: Sequence[str]) -> np.ndarray:
        """How many positives each item has learned from (its vector's evidence)."""
        return np.fromiter((self.support.get(i, 0) for i in ids), dtype=np.uint32, count=len(ids))
