"""Merchandising rules as data (the compacted ``rules`` topic, ``schemas/rule.v1.json``) and
how they change a ranked list: pure functions the worker, the HTTP API and the tests share.

A **block** takes its target out of every list (the state also counts its items as out of
stock, so commits and corrections drop them as they drop a stock-out: ``lua/rule_block.lua``);
**boost** and **bury** multiply the final score of the items they match; a **pin** puts its
item at its position; an **allow** lets the items of a tenant's sensitive categories (or an
item flagged sensitive) be shown, which nothing else does. An allow, and any rule on a
sensitive category, is in effect only once someone other than its author has approved it.
A rule is in force from ``starts_at`` (or always) until ``ends_at`` (or always), and only on
the lists of its ``scope``: ``personal`` (a user's own list, made by the worker) and
``fallback`` (the popular list the API serves a user without one).

>>> rules = [parse(EXAMPLE), parse({**EXAMPLE, "rule_id": "pin-1", "action": "pin",
...          "target": {"item_id": "p"}, "position": 1, "factor": None})]
>>> ranked = [Ranked("a", 3.0, "covisit"), Ranked("b", 2.0, "popular"), Ranked("p", 1.0, "mf")]
>>> shown = rank_with(ranked, in_force(rules, "default", 1, "personal"),
...                   {"b": ("tv", "acme")}, set(), 3)
>>> [(r.item_id, r.score, r.rules) for r in shown]
[('p', 6.0, ('pin-1',)), ('b', 6.0, ('boost-acme',)), ('a', 3.0, ())]
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from streamapp.contracts.messages import Ranked
from streamapp.contracts.schemas import contract

__all__ = [
    "EXAMPLE",
    "InvalidRule",
    "Rule",
    "by_attribute",
    "in_force",
    "keyed",
    "parse",
    "pin",
    "rank_with",
    "weigh",
]

SCOPES = ("personal", "fallback")

EXAMPLE: dict[str, Any] = {
    "rule_id": "boost-acme",
    "tenant": "default",
    "action": "boost",
    "target": {"brand": "acme"},
    "factor": 3.0,
    "author": "ana",
    "reason": "acme week",
    "ts": 1764158400000,
}

# An item's category and brand, as far as the product table knows them.
Attributes = Mapping[str, tuple[str | None, str | None]]


class InvalidRule(ValueError):
    """A rule that cannot apply, with what to change."""


@dataclass(frozen=True)
class Rule:
    """One rule; ``kind`` is the target's field (``item_id``, ``category``, ``brand``)."""

    rule_id: str
    tenant: str
    action: str
    kind: str
    value: str
    position: int | None
    factor: float | None
    scope: frozenset[str]
    starts_at: int | None
    ends_at: int | None
    author: str
    reason: str
    ts: int
    document: Mapping[str, Any] = field(compare=False, repr=False)
    status: str | None = None  # proposed, approved, rejected; None: needs no approval
    approved_by: str | None = None

    @property
    def target(self) -> str:
        """The target as one string (``brand:acme``): the field of the state's block table."""
        return f"{self.kind}:{self.value}"

    def running(self, now: int) -> bool:
        """In force at ``now`` (epoch ms): started, and not yet ended."""
        started = self.starts_at is None or self.starts_at <= now
        return started and (self.ends_at is None or now < self.ends_at)

    def needs_approval(self, sensitive: Collection[str]) -> bool:
        """An allow, or a rule on one of the tenant's ``sensitive`` categories."""
        return self.action == "allow" or (self.kind == "category" and self.value in sensitive)

    def effective(self, sensitive: Collection[str]) -> bool:
        """Whether the rule may act: approved by another than its author when it needs
        approval (or was proposed), else as written. A pending or rejected rule does
        nothing, whoever wrote it to the topic.

        >>> rule = parse({**EXAMPLE, "target": {"category": "wine"}, "status": "approved",
        ...               "approved_by": "ana"})
        >>> rule.effective(()), rule.effective(("wine",))
        (False, False)
        >>> replace(rule, approved_by="ben").effective(("wine",))
        True
        """
        if self.status is None:
            return not self.needs_approval(sensitive)
        approver = self.approved_by
        return self.status == "approved" and approver is not None and approver != self.author

    def matches(self, item_id: str, attributes: Attributes) -> bool:
        if self.kind == "item_id":
            return item_id == self.value
        category, brand = attributes.get(item_id, (None, None))
        return (category if self.kind == "category" else brand) == self.value


def parse(document: Mapping[str, Any]) -> Rule:
    """A record checked against the schema and for what the schema cannot say.

    >>> parse({**EXAMPLE, "action": "bury"})
    Traceback (most recent call last):
    ...
    streamapp.recommend.rules.InvalidRule: a bury needs a factor below 1, not 3.0
    """
    errors = [
        f"{'/'.join(map(str, e.instance_path)) or 'the record'}: {e.message}"
        for e in contract("rule").iter_errors(dict(document))
    ]
    if errors:
        raise InvalidRule("; ".join(errors))
    action = document["action"]
    ((kind, value),) = document["target"].items()
    factor, position = document.get("factor"), document.get("position")
    if action == "boost" and not (factor is not None and factor > 1):
        raise InvalidRule(f"a boost needs a factor above 1, not {factor}")
    if action == "bury" and not (factor is not None and factor < 1):
        raise InvalidRule(f"a bury needs a factor below 1, not {factor}")
    if action == "pin" and (kind != "item_id" or position is None):
        raise InvalidRule("a pin needs an item_id target and a position")
    if action in ("block", "pin", "allow") and factor is not None:
        raise InvalidRule(f"a {action} takes no factor")
    if action in ("block", "allow") and "scope" in document:
        raise InvalidRule(f"a {action} takes no scope: it acts on every list")
    status, approved_by = document.get("status"), document.get("approved_by")
    if (status in ("approved", "rejected")) != (approved_by is not None):
        raise InvalidRule("approved_by goes with an approved or rejected status, and only then")
    if action != "pin" and position is not None:
        raise InvalidRule(f"a {action} takes no position")
    starts_at, ends_at = document.get("starts_at"), document.get("ends_at")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidRule(f"ends_at {ends_at} is not after starts_at {starts_at}")
    return Rule(
        document["rule_id"],
        document["tenant"],
        action,
        kind,
        value,
        position,
        None if factor is None else float(factor),
        frozenset(document.get("scope", SCOPES)),
        starts_at,
        ends_at,
        document["author"],
        document["reason"],
        document["ts"],
        document,
        status,
        approved_by,
    )


def keyed(key: str, document: Mapping[str, Any]) -> Rule:
    """A record of the ``rules`` topic, whose key must be its rule id."""
    rule = parse(document)
    if rule.rule_id != key:
        raise InvalidRule(f"keyed {key!r}, not its id")
    return rule


def in_force(
    rules: Iterable[Rule], tenant: str, now: int, scope: str, sensitive: Collection[str] = ()
) -> list[Rule]:
    """The tenant's effective rules running at ``now`` on lists of ``scope`` (``sensitive``:
    the tenant's sensitive categories), oldest first (a later pin at the same position goes
    above an earlier one)."""
    chosen = [
        r
        for r in rules
        if r.tenant == tenant and scope in r.scope and r.running(now) and r.effective(sensitive)
    ]
    return sorted(chosen, key=lambda r: (r.ts, r.rule_id))


def by_attribute(rules: Iterable[Rule]) -> bool:
    """Whether any of ``rules`` picks the items it ranks by category or brand, so a ranking
    needs the attributes of its items read (a pin names its item; an allow acts in the state,
    never in a ranking).

    >>> by_attribute([parse(EXAMPLE)]), by_attribute([])
    (True, False)
    """
    return any(r.kind != "item_id" and r.action not in ("pin", "allow") for r in rules)


def weigh(ranked: Sequence[Ranked], rules: Sequence[Rule], attributes: Attributes) -> list[Ranked]:
    """Blocked items out; boosted and buried scores multiplied, each item naming the rules
    that touched it; the list sorted again (stable, so ties keep the ranking's order)."""
    blocks = [r for r in rules if r.action == "block"]
    weights = [r for r in rules if r.action in ("boost", "bury")]
    out: list[Ranked] = []
    for item in ranked:
        if any(r.matches(item.item_id, attributes) for r in blocks):
            continue
        touching = [r for r in weights if r.matches(item.item_id, attributes)]
        if touching:
            score = item.score
            for rule in touching:
                score *= rule.factor or 1.0
            ids = (*item.rules, *(r.rule_id for r in touching))
            out.append(replace(item, score=score, rules=ids))
        else:
            out.append(item)
    if weights:
        out.sort(key=lambda r: -r.score)
    return out


def pin(
    shown: Sequence[Ranked],
    rules: Sequence[Rule],
    attributes: Attributes,
    unavailable: set[str],
    limit: int,
) -> list[Ranked]:
    """Each pinned item at its position (1-based; past the end, last), unless it is
    unavailable (out of stock, bought) or blocked; its score is the one of the item it
    displaces, so the list's scores stay in order. The list keeps ``limit`` items."""
    blocks = [r for r in rules if r.action == "block"]
    out = list(shown)
    for rule in (r for r in rules if r.action == "pin"):
        item_id = rule.value
        if item_id in unavailable or any(b.matches(item_id, attributes) for b in blocks):
            continue
        present = next((r for r in out if r.item_id == item_id), None)
        if present is not None:
            out.remove(present)
        at = min((rule.position or 1) - 1, len(out))
        score = out[at].score if at < len(out) else (out[-1].score if out else 0.0)
        base = present or Ranked(item_id, score, "catalog")
        out.insert(at, replace(base, score=score, rules=(*base.rules, rule.rule_id)))
    return out[:limit]


def rank_with(
    ranked: Sequence[Ranked],
    rules: Sequence[Rule],
    attributes: Attributes,
    unavailable: set[str],
    limit: int,
) -> list[Ranked]:
    """:func:`weigh`, then :func:`pin` into the first ``limit`` (a list without exploration:
    the API's fallback, the evaluator)."""
    return pin(weigh(ranked, rules, attributes)[:limit], rules, attributes, unavailable, limit)
