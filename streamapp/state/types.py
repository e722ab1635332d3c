"""What goes into the state and what comes out of it: plain values, no Redis types.

The rows are named tuples because the Lua scripts read them as arrays (compact on the wire);
each script unpacks them into locals named as the fields here are, in the same order.
:mod:`streamapp.recommend` depends on these types, never on the adapter in :mod:`.store`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np

from streamapp.contracts.messages import item_entry, item_fragment
from streamapp.failures import Transient
from streamapp.state.replies import Scored

__all__ = [
    "EventRow",
    "Gathered",
    "InventoryOutcome",
    "InventoryRow",
    "ListToCommit",
    "Outcome",
    "RankedItem",
    "Ranking",
    "Scored",
    "StateGap",
    "StateLost",
    "TenantSignals",
    "UserSignals",
]


class Outcome(IntEnum):
    """What a state script did with one event (the numbers the Lua scripts answer with)."""

    APPLIED = 1
    DUPLICATE = 2  # an event id the user's dedupe window holds
    REPLAYED = 3  # an offset at or below its partition's watermark
    STALE = 4  # an inventory update older than the one stored

    @property
    def label(self) -> str:
        """The ``outcome`` label of ``streamapp_events_total``.

        >>> Outcome(3).label
        'replayed'
        """
        return self.name.lower()


class StateGap(Transient):
    """A batch starts past its partition's watermark + 1: the records in between are not in the
    state (a failover to a replica that lagged). Nothing was changed; the caller applies them
    (:mod:`streamapp.state.continuity`, from ``Store.gaps``) and tries again."""

    def __init__(self, gaps: dict[str, int]) -> None:
        super().__init__(f"the state lacks records before this batch: {gaps}")
        self.gaps = gaps  # per partition, the state's watermark


class StateLost(Transient):
    """The state is not the epoch this process knows: Redis lost it (restarted without its
    data, flushed) or another worker rebuilt it since. Nothing was changed; the caller recovers
    (:mod:`streamapp.state.continuity`) and tries again."""


class EventRow(NamedTuple):
    """One interaction as ``lua/ingest.lua`` applies it. ``category`` and ``price`` are False
    when unknown (a price is only in logs that carry one; the inventory topic is the usual
    source); ``weight`` is forward-decayed, in whole units
    (:func:`streamapp.state.decay.stored_weight`)."""

    tenant: str
    tp: str  # "topic:partition"
    offset: int
    event_id: str
    user_id: str
    item_id: str
    category: str | bool
    weight: float
    ts: int
    purchased: int  # 1 for a purchase, else 0
    price: float | bool


class InventoryRow(NamedTuple):
    """One warehouse update as ``lua/inventory.lua`` applies it."""

    tenant: str
    item_id: str
    ts: int
    stock: int
    fields: dict[str, Any]  # product fields to upsert: price, margin, category, brand
    tp: str
    offset: int


class RankedItem(NamedTuple):
    """One item of a ranking as committed: its id, its JSON fragment in the published list,
    its source and its score as published (what the stored ranking keeps of it)."""

    item_id: str
    fragment: str
    source: str
    score: float
    rules: tuple[str, ...] = ()  # the merchandising rules that moved it

    @classmethod
    def of(cls, item_id: str, score: float, source: str, rules: tuple[str, ...] = ()) -> RankedItem:
        """From what a ranking or a stored list holds, its fragment made as published."""
        entry = item_entry(item_id, score, source, rules)
        return cls(item_id, item_fragment(entry), source, entry["score"], tuple(rules))


class ListToCommit(NamedTuple):
    """A list for ``Store.commit_lists`` (``lua/commit.lua``): the message head, the ranking
    deeper than the list (the commit publishes the in-stock top ``k`` and keeps the in-stock
    rest behind it), the model version that ranked it, and whether the ranking held every
    candidate there was (shorter than asked)."""

    tenant: str
    user_id: str
    head: str
    ranked: list[RankedItem]
    version: str
    whole: bool


@dataclass
class UserSignals:
    """Raw state of one user as gathered for ranking."""

    tenant: str
    user_id: str
    recent: list[str]
    covisit: list[Scored]
    categories: Scored
    category_popular: list[Scored]
    purchased: set[str]
    history: Scored = field(default_factory=list)
    vector: np.ndarray | None = None
    # Per category of ``categories``: its new arrivals (item, arrival ts), newest first.
    category_new: list[Scored] = field(default_factory=list)
    # Per item of the session's newest ``covisit_window``: the items viewed right after it.
    sequence: list[Scored] = field(default_factory=list)


@dataclass
class TenantSignals:
    """Batch-level state of one tenant: popularity, last-resort catalogue, blocked items, the
    price and margin of the candidates the product table knows, and the popularity the cosine
    source normalises by."""

    popular: Scored
    catalog: list[str]
    blocked: set[str]
    prices: dict[str, float] = field(default_factory=dict)
    margins: dict[str, float] = field(default_factory=dict)
    # Decayed popularity of the users' session items and their co-visited items (cosine).
    popularity: dict[str, float] = field(default_factory=dict)
    # The candidates' category and brand (gathered while a rule boosts or buries by them).
    kinds: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


@dataclass
class Ranking:
    """A user's stored ranking: the model version that made it, its items, and whether it
    held every candidate there was."""

    version: str
    ranked: list[RankedItem]
    whole: bool


@dataclass
class Gathered:
    """What one ingest call returns: per-event outcome and the state to rank from."""

    status: list[Outcome]
    users: list[UserSignals]
    tenants: dict[str, TenantSignals]


@dataclass
class InventoryOutcome:
    """What one inventory event did: applied or stale, the stock transition, users to refresh."""

    status: Outcome
    transition: str
    affected_users: list[str]
    # Too many users to name in the script's reply: page them with Store.shown_to.
    page: bool = False
