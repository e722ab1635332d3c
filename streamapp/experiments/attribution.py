"""Exposures joined with what each user did next, per experiment, variant and user.

An exposure is a list a user was shown (a published recommendation, which names the user's
experiments and variants). An outcome is the same user's later click, cart change, purchase
or return: a click or a cart add counts for the lists when its item was on the user's latest
list, shown within the attribution window before it (what the user was looking at: counting
any list of the window would credit, after a few dozen lists, nearly every click to the
recommendations, whatever they were); a purchase, its revenue (quantity ×
price, from the event or the product table) and a return count for the user once exposed,
within the window of their last list. Records are applied in time order (a :data:`Timeline`), so a
click read from its topic before the list it followed was read from its own still counts.

The per-user values are what the statistics need (:class:`.statistics.Moments`): each metric is
a ratio of sums over users (:data:`METRICS`).

>>> a = Attribution(window_ms=60_000)
>>> a.exposure("default", "u1", "exp", "treated", 1_000, ["i1", "i2"])
>>> a.outcome("default", "u1", "click", "i2", 2_000)
>>> a.outcome("default", "u1", "purchase", "i2", 3_000, quantity=2, price=5.0)
>>> user = a.users[("exp", "treated")][("default", "u1")]
>>> user.exposures, user.clicks, user.purchases, user.revenue
(1, 1, 1, 10.0)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamapp.experiments.statistics import Moments

__all__ = ["METRICS", "Attribution", "Timeline", "UserOutcome", "moments"]

# By time: (ts, 0 for an exposure (a published list) or 1 for an outcome (a decoded click or
# cart event), the record); at one millisecond the list first, since a click cannot precede
# what it clicked on.
Timeline = list[tuple[int, int, dict[str, Any]]]


@dataclass
class UserOutcome:
    """What one user in one variant was shown and did."""

    exposures: int = 0
    empty_lists: int = 0
    latency_ms: int = 0  # over the lists: publish time − the triggering input's time
    clicks: int = 0  # on an item of the latest list, shown within the window
    carts: int = 0  # adds of such an item
    purchases: int = 0
    revenue: float = 0.0
    returns: int = 0
    dwell_ms: int = 0  # over the clicks that carry it
    dwell_clicks: int = 0
    last_seen: int = 0  # the time of the user's latest list
    shown: tuple[str, ...] = ()  # the items of the latest list (a few dozen: a scan is cheap)

    @property
    def converted(self) -> int:
        return 1 if self.purchases else 0


# Each metric as (numerator, denominator) of a user: a ratio of sums over users.
METRICS = {
    "click_through": lambda u: (u.clicks, u.exposures),
    "add_to_cart": lambda u: (u.carts, u.exposures),
    "conversion": lambda u: (u.converted, 1),
    "revenue_per_user": lambda u: (u.revenue, 1),
    "returns": lambda u: (u.returns, u.purchases),
    "dwell_ms": lambda u: (u.dwell_ms, u.dwell_clicks),
    "empty_lists": lambda u: (u.empty_lists, u.exposures),
    "freshness_ms": lambda u: (u.latency_ms, u.exposures),
}


class Attribution:
    """Users' exposures and outcomes per (experiment, variant), in time order."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.users: dict[tuple[str, str], dict[tuple[str, str], UserOutcome]] = {}
        # The (experiment, variant) pairs a user's latest list put them in.
        self.current: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def forget(self, experiment_id: str) -> None:
        """Drop a finished experiment's users (what a long-running process must not keep)."""
        for pair in [p for p in self.users if p[0] == experiment_id]:
            del self.users[pair]
        for key, pairs in self.current.items():
            self.current[key] = [p for p in pairs if p[0] != experiment_id]

    def apply(self, entry: tuple[int, int, dict[str, Any]]) -> None:
        """One entry of a :data:`Timeline`."""
        ts, kind, record = entry
        if kind == 0:
            self.exposure(
                record["tenant"],
                record["user_id"],
                record.get("experiment", ""),
                record.get("variant", ""),
                ts,
                [i["item_id"] for i in record["items"]],
                max(0, ts - record["trigger"]["input_ts"]) if "trigger" in record else 0,
            )
        else:
            self.outcome(
                record["tenant"],
                record["user_id"],
                record["interaction"],
                record["item_id"],
                ts,
                quantity=record.get("quantity", 1),
                price=record.get("price", 0.0),
                dwell_ms=record.get("dwell_ms"),
            )

    def exposure(
        self,
        tenant: str,
        user_id: str,
        experiment: str,
        variant: str,
        ts: int,
        items: list[str],
        latency_ms: int = 0,
    ) -> None:
        """A list shown; ``experiment`` and ``variant`` as the list carries them
        (comma-separated, in the same order; empty for no experiment); ``latency_ms`` is how
        long after its trigger it was published."""
        pairs = list(zip(experiment.split(","), variant.split(","), strict=False))
        pairs = [(e, v) for e, v in pairs if e]
        self.current[(tenant, user_id)] = pairs
        for pair in pairs:
            user = self.users.setdefault(pair, {}).setdefault((tenant, user_id), UserOutcome())
            user.exposures += 1
            user.empty_lists += 0 if items else 1
            user.latency_ms += latency_ms
            user.last_seen = ts
            user.shown = tuple(sys.intern(i) for i in items)

    def outcome(
        self,
        tenant: str,
        user_id: str,
        kind: str,
        item_id: str,
        ts: int,
        quantity: int = 1,
        price: float = 0.0,
        dwell_ms: int | None = None,
    ) -> None:
        """One of the user's interactions (``kind``: click, fav, cart_add, cart_remove,
        purchase, return), counted in every variant their latest list put them in."""
        for pair in self.current.get((tenant, user_id), ()):
            user = self.users[pair][(tenant, user_id)]
            if ts - user.last_seen > self.window_ms or ts < user.last_seen:
                continue
            recommended = item_id in user.shown
            if kind == "click" and recommended:
                user.clicks += 1
                if dwell_ms is not None:
                    user.dwell_ms += dwell_ms
                    user.dwell_clicks += 1
            elif kind == "cart_add" and recommended:
                user.carts += 1
            elif kind == "purchase":
                user.purchases += 1
                user.revenue += quantity * price
            elif kind == "return":
                user.returns += 1


def moments(users: Mapping[tuple[str, str], UserOutcome], metric: str) -> Moments:
    """The sums over one variant's users of a metric's per-user (numerator, denominator)."""
    pairs = [METRICS[metric](u) for u in users.values()]
    return Moments.of([float(x) for x, _ in pairs], [float(y) for _, y in pairs])
