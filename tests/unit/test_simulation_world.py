"""The simulated shoppers: seeded, position-biased, and true to the truth they report."""

from __future__ import annotations

import pytest

from streamapp.simulation.world import World, examined


def test_a_seed_replays_the_same_world_and_the_same_reactions():
    first, second = World(seed=7, shoppers=5, items=100), World(seed=7, shoppers=5, items=100)
    assert first.catalogue.prices == second.catalogue.prices
    shown = first.catalogue.ids[:10]
    assert [first.react(s, shown) for s in first.shoppers * 20] == [
        second.react(s, shown) for s in second.shoppers * 20
    ]


def test_the_same_items_in_a_better_order_get_more_clicks():
    world = World(seed=3, shoppers=1, items=200)
    shopper = world.shoppers[0]
    # Five items the shopper sometimes likes, then five they rarely do.
    liked = sorted(
        (i for i in world.catalogue.ids if 0.01 < world.appeal(shopper, i) < 0.3),
        key=lambda i: -world.appeal(shopper, i),
    )
    best = liked[:5] + liked[-5:]
    trials = 4_000
    good = sum(bool(world.react(shopper, best)) for _ in range(trials))
    bad = sum(bool(world.react(shopper, best[::-1])) for _ in range(trials))
    assert good > bad * 1.3
    assert world.expected_clicks(shopper, best) > world.expected_clicks(shopper, best[::-1])
    assert examined(0) == 1.0 and examined(9) < examined(1)


def test_the_click_rate_of_a_list_is_what_the_truth_says_when_clicks_are_rare():
    """At most one click a list, so the chance of any click is below the expected clicks; for
    a list of items shoppers rarely like the two meet."""
    world = World(seed=5, shoppers=1, items=300)
    shopper = world.shoppers[0]
    rare = [i for i in world.catalogue.ids if 0.005 < world.appeal(shopper, i) < 0.02][:10]
    assert len(rare) == 10
    trials = 20_000
    clicked = sum(bool(world.react(shopper, rare)) for _ in range(trials)) / trials
    assert clicked == pytest.approx(world.expected_clicks(shopper, rare), rel=0.15)


def test_a_click_may_lead_to_a_cart_a_purchase_and_a_return_in_that_order():
    world = World(seed=11, shoppers=1, items=50, cart_rate=1.0, buy_rate=1.0, return_rate=1.0)
    actions = world.after_click(world.catalogue.ids[0], 0.5)
    assert [a[0] for a in actions] == ["click", "cart_add", "purchase", "return"]
    assert actions[0][4] > 0  # the click's dwell
    assert world.react(world.shoppers[0], []) == []
