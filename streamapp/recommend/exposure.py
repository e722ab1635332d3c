"""Who the lists show: exposure and bias figures over a stream of published lists, as pure
functions, so the live report (``streamapp report exposure``) and ``streamapp evaluate`` compute
them with the same code and an offline run can be held against the live system.

An *exposure* is one item in one list. The figures, per tenant and per user segment (new users:
no interaction before the one the list answers; returning users: the rest):

- ``coverage``: the share of the catalogue (every item the product table or an interaction
  names) that any list showed.
- ``gini``: how unequal exposure is over the catalogue, unexposed items included (0: every
  item shown as often; near 1: a few items take everything).
- ``long_tail_share``: the share of exposures that went to items outside the *short head*,
  the most-interacted items that together hold :data:`HEAD_SHARE` of all interactions (the
  definition of Abdollahpouri et al., "Managing popularity bias in recommender systems").
- ``new_item_share``: the share of exposures that went to items nobody had interacted with
  when the list was made.
- per ``category`` and ``brand``: each group's share of exposures against its share of the
  catalogue and of interactions, and over all groups the total variation distance between
  exposure and each (0: lists show each group exactly as often as it is stocked, or touched).

>>> tally = ExposureTally()
>>> tally.interacted("shop", "a")
>>> tally.published("shop", "new-users", ["a", "b"])
>>> shop = Catalogue(items={"a", "b", "c", "d"}, category={"a": "x", "b": "x", "c": "y"})
>>> f = tally.figures("shop", "all", shop)
>>> f["coverage"], f["gini"], f["long_tail_share"], f["new_item_share"]
(0.5, 0.5, 0.5, 0.5)
>>> f["category"]["groups"][0]
{'group': 'x', 'exposure_share': 1.0, 'catalogue_share': 0.6667, 'interaction_share': 1.0}
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The short head holds this share of all interactions (the rest of the items are the long tail).
HEAD_SHARE = 0.2

SEGMENTS = ("all", "new-users", "returning-users")

# How many groups of a category or brand a report lists (by exposure); the distances use all.
GROUPS_SHOWN = 20


def segment_of(interactions: int) -> str:
    """A list's user segment from the user's interactions so far, the one the list answers
    included: new while that one is their first.

    >>> segment_of(1), segment_of(2)
    ('new-users', 'returning-users')
    """
    return "returning-users" if interactions > 1 else "new-users"


def gini(values: Sequence[float]) -> float:
    """The Gini coefficient of non-negative values (0 for none or all zero).

    >>> gini([1, 1, 1, 1]), gini([0, 0, 0, 4]), round(gini([1, 2, 3]), 4)
    (0.0, 0.75, 0.2222)
    """
    ordered = sorted(values)
    total = sum(ordered)
    n = len(ordered)
    if n == 0 or total <= 0:
        return 0.0
    weighted = sum((2 * rank - n - 1) * value for rank, value in enumerate(ordered, start=1))
    return weighted / (n * total)


def lorenz(values: Sequence[float], points: int = 21) -> list[float]:
    """The Lorenz curve of exposure at ``points`` evenly spaced shares of the items (least
    exposed first): the cumulative share of exposures they hold; a diagonal is equality.

    >>> lorenz([0, 0, 1, 3], 5)
    [0.0, 0.0, 0.0, 0.25, 1.0]
    """
    ordered = sorted(values)
    total = sum(ordered)
    n = len(ordered)
    if n == 0 or total <= 0:
        return [0.0] * points
    cumulative = [0.0]
    for value in ordered:
        cumulative.append(cumulative[-1] + value)
    return [round(cumulative[round(i * n / (points - 1))] / total, 4) for i in range(points)]


def short_head(interactions: Mapping[str, int], share: float = HEAD_SHARE) -> set[str]:
    """The most-interacted items that together hold ``share`` of all interactions (the item
    that crosses the line included; ties broken by item id so the head is deterministic).

    >>> sorted(short_head({"a": 5, "b": 3, "c": 1, "d": 1}, 0.5))
    ['a']
    """
    total = sum(interactions.values())
    head: set[str] = set()
    held = 0
    for item, count in sorted(interactions.items(), key=lambda kv: (-kv[1], kv[0])):
        if total <= 0 or held >= share * total:
            break
        head.add(item)
        held += count
    return head


def _shares(counts: Mapping[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total > 0 else {}


def _distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Total variation distance between two distributions over groups."""
    return 0.5 * sum(abs(a.get(g, 0.0) - b.get(g, 0.0)) for g in {*a, *b})


def group_shares(
    exposures: Mapping[str, int],
    catalogue: Iterable[str],
    interactions: Mapping[str, int],
    group_of: Mapping[str, str],
) -> dict[str, Any]:
    """Exposure, catalogue and interaction shares per group (items without a group are left
    out of all three), and the distances between exposure and the other two."""

    def by_group(weights: Iterable[tuple[str, float]]) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for item, weight in weights:
            group = group_of.get(item)
            if group is not None:
                out[group] += weight
        return _shares(out)

    exposure = by_group(exposures.items())
    stocked = by_group((item, 1.0) for item in catalogue)
    touched = by_group(interactions.items())
    shown = sorted(exposure, key=lambda g: (-exposure[g], g))[:GROUPS_SHOWN]
    return {
        "groups": [
            {
                "group": g,
                "exposure_share": round(exposure[g], 4),
                "catalogue_share": round(stocked.get(g, 0.0), 4),
                "interaction_share": round(touched.get(g, 0.0), 4),
            }
            for g in shown
        ],
        "distance_to_catalogue": round(_distance(exposure, stocked), 4),
        "distance_to_interactions": round(_distance(exposure, touched), 4),
    }


@dataclass
class Catalogue:
    """What the product table says: the items a shop has, and their category and brand."""

    items: set[str] = field(default_factory=set)
    category: dict[str, str] = field(default_factory=dict)
    brand: dict[str, str] = field(default_factory=dict)


@dataclass
class _Segment:
    lists: int = 0
    exposures: Counter[str] = field(default_factory=Counter)
    new_item_exposures: int = 0


class ExposureTally:
    """Exposures per tenant and segment, in the order lists and interactions happened: an item
    is new while no interaction with it has been counted."""

    def __init__(self, interactions: dict[str, Counter[str]] | None = None) -> None:
        self.segments: dict[tuple[str, str], _Segment] = defaultdict(_Segment)
        # Shared when several systems are tallied over the same events (the evaluator).
        self.interactions = {} if interactions is None else interactions

    def interacted(self, tenant: str, item_id: str) -> None:
        self.interactions.setdefault(tenant, Counter())[item_id] += 1

    def published(self, tenant: str, segment: str, items: Sequence[str]) -> None:
        """One list shown to a user of ``segment``."""
        touched = self.interactions.get(tenant) or Counter()
        new = sum(1 for item in items if not touched.get(item))
        for key in ((tenant, "all"), (tenant, segment)):
            tally = self.segments[key]
            tally.lists += 1
            tally.exposures.update(items)
            tally.new_item_exposures += new

    def tenants(self) -> list[str]:
        return sorted({tenant for tenant, _ in self.segments})

    def figures(self, tenant: str, segment: str, catalogue: Catalogue) -> dict[str, Any]:
        """The figures of one tenant's segment; the catalogue is the product table's items,
        every item interacted with and every item shown."""
        tally = self.segments.get((tenant, segment), _Segment())
        touched = self.interactions.get(tenant, Counter())
        items = catalogue.items | set(touched) | set(tally.exposures)
        exposures = sum(tally.exposures.values())
        head = short_head(touched)
        tail = sum(n for item, n in tally.exposures.items() if item not in head)
        counts = [tally.exposures.get(item, 0) for item in items]
        return {
            "lists": tally.lists,
            "exposures": exposures,
            "catalogue_items": len(items),
            "coverage": round(len(tally.exposures) / len(items), 4) if items else 0.0,
            "gini": round(gini(counts), 4),
            "lorenz": lorenz(counts),
            "long_tail_share": round(tail / exposures, 4) if exposures else 0.0,
            "new_item_share": round(tally.new_item_exposures / exposures, 4) if exposures else 0.0,
            "category": group_shares(tally.exposures, items, touched, catalogue.category),
            "brand": group_shares(tally.exposures, items, touched, catalogue.brand),
        }

    def report(self, catalogues: Mapping[str, Catalogue]) -> dict[str, Any]:
        """Every tenant's figures, per segment."""
        return {
            tenant: {
                segment: self.figures(tenant, segment, catalogues.get(tenant, Catalogue()))
                for segment in SEGMENTS
            }
            for tenant in self.tenants()
        }


class ExposureWindows:
    """Live exposure over tumbling windows of ``window_ms`` of list time: the figures of the
    last completed window, while the next fills. Tumbling, not sliding: a sliding window must
    keep every list it holds to take it out again (an hour of lists at 1,000 a second is
    millions), a tumbling one only the counts. Interactions accumulate across windows (an item
    is new until anyone touches it); users who interacted are remembered up to ``users_max``,
    the least recently active forgotten first.

    >>> windows = ExposureWindows(window_ms=1000, users_max=10)
    >>> windows.interacted("shop", "u", "a")
    >>> windows.published(10, "shop", "u", ["a", "b"])
    >>> windows.completed is None
    True
    >>> windows.advance(1000)
    True
    >>> windows.completed["shop"]["new-users"]["lists"], windows.window
    (1, (0, 1000))
    """

    def __init__(self, window_ms: int, users_max: int) -> None:
        self.window_ms = window_ms
        self.users_max = users_max
        self.interactions: dict[str, Counter[str]] = {}
        self.catalogues: dict[str, Catalogue] = {}
        self.users: OrderedDict[tuple[str, str], int] = OrderedDict()
        self.current = ExposureTally(self.interactions)
        self.start: int | None = None
        self.completed: dict[str, Any] | None = None
        self.window: tuple[int, int] | None = None

    def product(self, tenant: str, item_id: str, category: str | None, brand: str | None) -> None:
        """An item of the product table, with its latest category and brand."""
        shop = self.catalogues.setdefault(tenant, Catalogue())
        shop.items.add(item_id)
        for attribute, value in ((shop.category, category), (shop.brand, brand)):
            if value:
                attribute[item_id] = value

    def interacted(self, tenant: str, user_id: str, item_id: str) -> None:
        self.current.interacted(tenant, item_id)
        key = (tenant, user_id)
        self.users[key] = self.users.pop(key, 0) + 1
        if len(self.users) > self.users_max:
            self.users.popitem(last=False)

    def published(self, ts: int, tenant: str, user_id: str, items: Sequence[str]) -> None:
        """A list made at ``ts`` (ms); lists arrive in time order (the stream's buffer)."""
        self.advance(ts)
        if self.start is None:
            self.start = ts - ts % self.window_ms
        self.current.published(tenant, segment_of(self.users.get((tenant, user_id), 0)), items)

    def advance(self, ts: int) -> bool:
        """Close the window when ``ts`` is past its end; whether one closed."""
        if self.start is None or ts < self.start + self.window_ms:
            return False
        self.completed = self.current.report(self.catalogues)
        self.window = (self.start, self.start + self.window_ms)
        self.current = ExposureTally(self.interactions)
        self.start = ts - ts % self.window_ms
        return True


def exposure_table(rows: Iterable[tuple[str, Mapping[str, Any]]], label: str) -> list[str]:
    """Markdown table lines, a row per (label, figures): the summary figures side by side."""
    lines = [
        f"| {label} | lists | coverage | Gini | long-tail share | new-item share "
        "| category: distance to catalogue / interactions "
        "| brand: distance to catalogue / interactions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in rows:
        category, brand = f["category"], f["brand"]
        lines.append(
            f"| {name} | {f['lists']} | {f['coverage']:.4f} | {f['gini']:.4f} "
            f"| {f['long_tail_share']:.4f} | {f['new_item_share']:.4f} "
            f"| {category['distance_to_catalogue']:.4f} / "
            f"{category['distance_to_interactions']:.4f} "
            f"| {brand['distance_to_catalogue']:.4f} / {brand['distance_to_interactions']:.4f} |"
        )
    return lines
