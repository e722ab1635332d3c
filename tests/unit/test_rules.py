"""Merchandising rules as pure functions: what a record may say, when a rule is in force, and
what block, pin, boost and bury do to a ranked list."""

from __future__ import annotations

from typing import Any

import pytest

from streamapp.contracts.messages import Ranked
from streamapp.recommend.rules import InvalidRule, in_force, keyed, parse, pin, rank_with, weigh

BASE = {"tenant": "default", "author": "ana", "reason": "why", "ts": 10}
KINDS = {"a": ("tv", "acme"), "b": ("tv", "zeta"), "c": ("phone", "acme")}


def rule(rule_id: str, action: str, target: dict[str, str], **more: Any) -> Any:
    return parse({**BASE, "rule_id": rule_id, "action": action, "target": target, **more})


def ranking(*scored: tuple[str, float]) -> list[Ranked]:
    return [Ranked(item, score, "covisit") for item, score in scored]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"action": "boost", "target": {"brand": "x"}}, "a boost needs a factor above 1"),
        ({"action": "boost", "target": {"brand": "x"}, "factor": 0.5}, "above 1"),
        ({"action": "bury", "target": {"brand": "x"}, "factor": 2}, "below 1"),
        ({"action": "pin", "target": {"brand": "x"}, "position": 1}, "an item_id target"),
        ({"action": "pin", "target": {"item_id": "x"}}, "and a position"),
        ({"action": "block", "target": {"item_id": "x"}, "factor": 2}, "takes no factor"),
        ({"action": "block", "target": {"item_id": "x"}, "position": 2}, "takes no position"),
        ({"action": "block", "target": {"item_id": "x"}, "scope": ["personal"]}, "no scope"),
        ({"action": "block", "target": {"item_id": "x", "brand": "y"}}, "target"),
        ({"action": "block", "target": {}}, "target"),
        ({"action": "hide", "target": {"item_id": "x"}}, "action"),
        ({"action": "block", "target": {"item_id": "x"}, "starts_at": 5, "ends_at": 5}, "after"),
        ({"action": "block", "target": {"item_id": "x"}, "scope": ["everywhere"]}, "scope"),
    ],
)
def test_a_rule_that_cannot_apply_is_refused_with_the_reason(fields, says):
    with pytest.raises(InvalidRule, match=says):
        parse({**BASE, "rule_id": "r", **fields})


def test_a_record_keyed_by_another_id_is_refused():
    document = {**BASE, "rule_id": "r1", "action": "block", "target": {"item_id": "x"}}
    assert keyed("r1", document).target == "item_id:x"
    with pytest.raises(InvalidRule, match="keyed 'r2'"):
        keyed("r2", document)


def test_a_rule_is_in_force_from_its_start_until_its_end_on_its_scope_and_tenant():
    timed = rule("t", "boost", {"brand": "acme"}, factor=2, starts_at=100, ends_at=200)
    fallback_only = rule("f", "bury", {"brand": "acme"}, factor=0.5, scope=["fallback"])
    other = {**BASE, "tenant": "shop2", "rule_id": "o", "action": "block"}
    rules = [timed, fallback_only, parse({**other, "target": {"item_id": "x"}})]
    assert [r.rule_id for r in in_force(rules, "default", 99, "personal")] == []
    assert [r.rule_id for r in in_force(rules, "default", 100, "personal")] == ["t"]
    assert [r.rule_id for r in in_force(rules, "default", 199, "fallback")] == ["f", "t"]
    assert [r.rule_id for r in in_force(rules, "default", 200, "personal")] == []
    assert [r.rule_id for r in in_force(rules, "shop2", 0, "personal")] == ["o"]


def test_boost_and_bury_multiply_the_score_reorder_and_name_themselves():
    boost = rule("acme", "boost", {"brand": "acme"}, factor=3)
    bury = rule("tv", "bury", {"category": "tv"}, factor=0.1)
    out = weigh(ranking(("b", 5.0), ("a", 4.0), ("c", 1.0), ("d", 0.5)), [boost, bury], KINDS)
    assert [(r.item_id, round(r.score, 6), r.rules) for r in out] == [
        ("c", 3.0, ("acme",)),
        ("a", 1.2, ("acme", "tv")),
        ("b", 0.5, ("tv",)),
        ("d", 0.5, ()),
    ]


def test_a_block_takes_its_items_out_whatever_the_target():
    rules = [rule("x", "block", {"item_id": "d"}), rule("y", "block", {"brand": "zeta"})]
    out = weigh(ranking(("a", 4.0), ("b", 3.0), ("d", 2.0), ("e", 1.0)), rules, KINDS)
    assert [r.item_id for r in out] == ["a", "e"]


def test_a_pin_takes_its_position_unless_it_cannot_be_shown():
    shown = ranking(("a", 4.0), ("b", 3.0), ("c", 2.0))
    first = rule("p1", "pin", {"item_id": "c"}, position=1)
    new = rule("p2", "pin", {"item_id": "n"}, position=2)
    out = pin(shown, [first, new], KINDS, set(), 3)
    assert [(r.item_id, r.score, r.source, r.rules) for r in out] == [
        ("c", 4.0, "covisit", ("p1",)),
        ("n", 4.0, "catalog", ("p2",)),
        ("a", 4.0, "covisit", ()),
    ]
    # Out of stock (or bought), or blocked: the list stays as ranked.
    blocked = rule("b", "block", {"item_id": "n"})
    assert pin(shown, [new], KINDS, {"n"}, 3) == shown
    assert pin(shown, [new, blocked], KINDS, set(), 3) == shown
    # Past the end of a short list: last.
    far = rule("p3", "pin", {"item_id": "n"}, position=9)
    assert [r.item_id for r in pin(shown[:1], [far], KINDS, set(), 3)] == ["a", "n"]


def test_rank_with_weighs_then_pins_into_the_first_items():
    rules = [rule("p", "pin", {"item_id": "z"}, position=1), rule("y", "block", {"item_id": "a"})]
    out = rank_with(ranking(("a", 4.0), ("b", 3.0), ("c", 2.0)), rules, KINDS, set(), 2)
    assert [r.item_id for r in out] == ["z", "b"]
