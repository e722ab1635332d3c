"""The shoppers' world: a catalogue and shoppers with hidden tastes, and how a shopper reacts to
a list — the model the simulator's truth comes from.

- Items have a category, a price and a latent vector; a shopper has a latent taste. The chance
  a shopper clicks an item they look at is a logistic function of taste · item, calibrated so
  an average item is clicked about one time in seven it is looked at and an item two standard
  deviations to the shopper's taste almost always: a list is worth what its top holds, as in a
  shop (with a generous calibration a random list gets nearly as many clicks as a good one).
- **Position bias**: a shopper looks at position p (0-based) of a list with probability
  1 / log2(p + 2), as in the DCG discount, so the same items in a better order get more clicks.
- After a click a shopper adds the item to the cart with ``cart_rate``, buys what is in the
  cart with ``buy_rate`` and returns a purchase with ``return_rate``; the dwell on a clicked
  item grows with how much they like it.
- A shopper without a list (or who ignores it) browses: picks an item by taste among a sample.

>>> world = World(seed=1, shoppers=3, items=50)
>>> shopper = world.shoppers[0]
>>> ordered = sorted(world.catalogue.ids, key=lambda i: -world.appeal(shopper, i))[:10]
>>> world.expected_clicks(shopper, ordered) > world.expected_clicks(shopper, ordered[::-1])
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

__all__ = ["Action", "Catalogue", "Shopper", "World", "examined"]

DIM = 8


def examined(position: int) -> float:
    """The chance a shopper looks at a list's ``position`` (0-based).

    >>> [round(examined(p), 2) for p in range(4)]
    [1.0, 0.63, 0.5, 0.43]
    """
    return 1.0 / math.log2(position + 2)


@dataclass(frozen=True)
class Catalogue:
    ids: list[str]
    categories: list[str]
    prices: list[float]
    vectors: np.ndarray  # items × DIM


@dataclass(frozen=True)
class Shopper:
    user_id: str
    taste: np.ndarray  # DIM


# (kind, item, quantity, price, dwell_ms): kind is click, cart_add, purchase or return.
Action = tuple[str, str, int, float, int]


class World:
    """A seeded catalogue and shoppers; every draw goes through ``rng``, so a seed replays."""

    def __init__(
        self,
        seed: int,
        shoppers: int,
        items: int = 500,
        categories: int = 20,
        cart_rate: float = 0.3,
        buy_rate: float = 0.5,
        return_rate: float = 0.1,
    ) -> None:
        self.rng = random.Random(seed)
        gen = np.random.default_rng(seed)
        self.catalogue = Catalogue(
            [f"sim-i{n}" for n in range(items)],
            [f"sim-c{gen.integers(categories)}" for _ in range(items)],
            [round(float(gen.lognormal(3.0, 0.8)), 2) for _ in range(items)],
            gen.normal(0.0, 1.0, (items, DIM)) / math.sqrt(DIM),
        )
        self.index = {item: n for n, item in enumerate(self.catalogue.ids)}
        self.shoppers = [
            Shopper(f"sim-u{n}", gen.normal(0.0, 1.0, DIM) * 1.5) for n in range(shoppers)
        ]
        self.cart_rate, self.buy_rate, self.return_rate = cart_rate, buy_rate, return_rate

    def appeal(self, shopper: Shopper, item: str) -> float:
        """The chance the shopper clicks the item once they look at it."""
        n = self.index.get(item)
        if n is None:
            return 0.0
        affinity = float(self.catalogue.vectors[n] @ shopper.taste)
        return 1.0 / (1.0 + math.exp(-(3.0 * affinity - 5.0)))

    def expected_clicks(self, shopper: Shopper, items: list[str]) -> float:
        """The clicks a list brings this shopper on average: the truth a variant is judged by."""
        return sum(examined(p) * self.appeal(shopper, i) for p, i in enumerate(items))

    def browse(self, shopper: Shopper, sample: int = 20) -> str:
        """An item found without the list: the most appealing of a random sample."""
        picks = self.rng.sample(self.catalogue.ids, min(sample, len(self.catalogue.ids)))
        return max(picks, key=lambda i: self.appeal(shopper, i) + self.rng.random() * 0.1)

    def react(self, shopper: Shopper, items: list[str]) -> list[Action]:
        """What the shopper does with a list: looks down it, clicks at most one item, and may
        cart, buy and return it."""
        for position, item in enumerate(items):
            if self.rng.random() >= examined(position):
                continue
            appeal = self.appeal(shopper, item)
            if self.rng.random() < appeal:
                return self.after_click(item, appeal)
        return []

    def after_click(self, item: str, appeal: float) -> list[Action]:
        price = self.catalogue.prices[self.index[item]]
        actions: list[Action] = [("click", item, 1, price, int(2_000 + 60_000 * appeal))]
        if self.rng.random() < self.cart_rate:
            actions.append(("cart_add", item, 1, price, 0))
            if self.rng.random() < self.buy_rate:
                quantity = 1 + int(self.rng.random() < 0.2)
                actions.append(("purchase", item, quantity, price, 0))
                if self.rng.random() < self.return_rate:
                    actions.append(("return", item, quantity, price, 0))
        return actions
