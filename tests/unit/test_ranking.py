from __future__ import annotations

import pytest

from streamapp.contracts.messages import Ranked
from streamapp.recommend.pipeline import recommend_user
from streamapp.recommend.scoring import category_signal, covisit_signal, fill, popular_signal, rank
from streamapp.state.types import TenantSignals, UserSignals

WEIGHTS = {"covisit": 1.0, "category": 0.5, "popular": 0.2}


def test_covisit_counts_newer_session_items_more():
    out: dict = {}
    covisit_signal(out, [[("x", 1.0)], [("y", 1.0)]])
    assert out["covisit"]["x"] > out["covisit"]["y"]


def test_category_signal_is_share_times_normalised_popularity():
    out: dict = {}
    category_signal(out, [("c1", 3.0), ("c2", 1.0)], [[("a", 10.0), ("b", 5.0)], [("z", 2.0)]])
    assert out["category"]["a"] == pytest.approx(0.75)
    assert out["category"]["b"] == pytest.approx(0.375)
    assert out["category"]["z"] == pytest.approx(0.25)


def test_rank_is_scale_invariant_in_decayed_magnitudes():
    small = {"covisit": {"a": 1.0}, "popular": {"a": 2.0, "b": 4.0}}
    large = {s: {k: v * 1e12 for k, v in sig.items()} for s, sig in small.items()}
    assert rank(small, WEIGHTS, set(), 5) == rank(large, WEIGHTS, set(), 5)


def test_rank_excludes_and_breaks_ties_by_item_id():
    cands = {"popular": {"b": 1.0, "a": 1.0, "c": 1.0}}
    assert [r.item_id for r in rank(cands, WEIGHTS, {"c"}, 5)] == ["a", "b"]


def test_source_is_the_largest_contribution():
    out: dict = {}
    popular_signal(out, [("a", 10.0), ("b", 1.0)])
    covisit_signal(out, [[("b", 3.0)]])
    by_id = {r.item_id: r for r in rank(out, WEIGHTS, set(), 5)}
    assert by_id["b"].source == "covisit"
    assert by_id["a"].source == "popular"


def test_source_is_one_that_proposed_the_item_even_when_its_score_is_negative():
    ranked = rank(
        {"mf": {"a": 1.0, "b": -1.0}, "recent": {"a": 1.0}}, {"mf": 1.0, "recent": 1.0}, set(), 5
    )
    assert [(r.item_id, r.source) for r in ranked] == [("a", "mf"), ("b", "mf")]


def test_fill_tops_up_from_catalogue_without_duplicates():
    ranked = [Ranked("a", 1.0, "popular")]
    fill(ranked, ["a", "b", "x", "c"], {"x"}, 3)
    assert [(r.item_id, r.source) for r in ranked] == [
        ("a", "popular"),
        ("b", "catalog"),
        ("c", "catalog"),
    ]


@pytest.mark.parametrize("blocked_source", ["covisit", "category", "popular", "catalog"])
def test_out_of_stock_item_is_dropped_from_every_source(blocked_source):
    x = "X"
    user = UserSignals(
        "default",
        "u",
        ["r"],
        covisit=[[(x, 9.0), ("a", 1.0)]] if blocked_source == "covisit" else [[("a", 1.0)]],
        categories=[("c", 1.0)],
        category_popular=[[(x, 9.0), ("b", 1.0)]] if blocked_source == "category" else [[("b", 1)]],
        purchased=set(),
    )
    shop = TenantSignals(
        popular=[(x, 9.0), ("d", 1.0)] if blocked_source == "popular" else [("d", 1.0)],
        catalog=[x, "e"] if blocked_source == "catalog" else ["e"],
        blocked={x},
    )
    items = [r.item_id for r in recommend_user(user, shop, WEIGHTS, 10)]
    assert x not in items
    assert items


def test_purchased_items_are_excluded_and_list_never_empty_while_stock_exists():
    user = UserSignals("default", "u", [], [], [], [], purchased={"a"})
    shop = TenantSignals(popular=[("a", 5.0)], catalog=["a", "z"], blocked=set())
    assert [r.item_id for r in recommend_user(user, shop, WEIGHTS, 10)] == ["z"]


def test_empty_only_when_nothing_is_in_stock():
    user = UserSignals("default", "u", [], [], [], [], set())
    shop = TenantSignals(popular=[("a", 5.0)], catalog=[], blocked={"a"})
    assert recommend_user(user, shop, WEIGHTS, 10) == []
