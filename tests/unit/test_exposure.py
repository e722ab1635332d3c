"""Exposure and bias figures (streamapp.recommend.exposure): the math, by hand."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from streamapp.learning.exposure_export import ExposureExport
from streamapp.recommend.exposure import (
    Catalogue,
    ExposureTally,
    ExposureWindows,
    exposure_table,
    gini,
    group_shares,
    lorenz,
    short_head,
)


def test_gini_is_zero_for_equal_exposure_and_grows_with_concentration():
    assert gini([]) == 0.0
    assert gini([0, 0]) == 0.0
    assert gini([3, 3, 3]) == 0.0
    spread = [gini([1] * 9 + [n]) for n in (1, 5, 50, 500)]
    assert spread == sorted(spread) and spread[-1] > 0.85
    # One item takes everything among n: (n - 1) / n.
    assert gini([0] * 9 + [7]) == pytest.approx(0.9)


def test_the_lorenz_curve_runs_from_nothing_to_everything_and_never_falls():
    curve = lorenz([5, 0, 1, 0, 9, 2], 11)
    assert curve[0] == 0.0 and curve[-1] == 1.0
    assert curve == sorted(curve)
    assert lorenz([2, 2, 2, 2], 5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_the_short_head_holds_a_fifth_of_the_interactions():
    counts = {"a": 40, "b": 30, "c": 10, "d": 10, "e": 10}
    assert short_head(counts) == {"a"}
    assert short_head(counts, 0.5) == {"a", "b"}
    assert short_head({}) == set()


def test_group_shares_compare_exposure_with_the_catalogue_and_the_interactions():
    group_of = {"a": "x", "b": "x", "c": "y", "d": "y"}
    shares = group_shares({"a": 3, "c": 1}, "abcd", {"c": 4}, group_of)
    by_group = {g["group"]: g for g in shares["groups"]}
    assert by_group["x"] == {
        "group": "x",
        "exposure_share": 0.75,
        "catalogue_share": 0.5,
        "interaction_share": 0.0,
    }
    assert shares["distance_to_catalogue"] == 0.25
    assert shares["distance_to_interactions"] == 0.75
    assert group_shares({}, "ab", {}, {})["groups"] == []


def test_items_are_new_until_touched_and_users_are_tallied_by_segment():
    tally = ExposureTally()
    tally.published("shop", "new-users", ["a", "b"])
    tally.interacted("shop", "a")
    tally.published("shop", "returning-users", ["a", "b"])
    tally.published("other", "new-users", ["z"])
    shop = Catalogue(items={"a", "b", "c", "d"}, brand={"a": "acme"})
    figures = tally.report({"shop": shop})
    assert set(figures) == {"shop", "other"}
    every, new, returning = (figures["shop"][s] for s in ("all", "new-users", "returning-users"))
    assert (every["lists"], new["lists"], returning["lists"]) == (2, 1, 1)
    assert new["new_item_share"] == 1.0
    assert returning["new_item_share"] == 0.5
    assert every["new_item_share"] == 0.75
    assert every["coverage"] == 0.5
    # Only "a" has been touched: the head is {a}; half the exposures went elsewhere.
    assert every["long_tail_share"] == 0.5
    assert every["brand"]["groups"] == [
        {"group": "acme", "exposure_share": 1.0, "catalogue_share": 1.0, "interaction_share": 1.0}
    ]
    # A tenant without a product table: its catalogue is what it showed and touched.
    assert figures["other"]["all"]["catalogue_items"] == 1
    lines = exposure_table([("shop", every)], "tenant")
    assert lines[2].startswith("| shop | 2 | 0.5000 |")


def test_tallies_over_the_same_events_share_their_interactions():
    shared: dict = {}
    first, second = ExposureTally(shared), ExposureTally(shared)
    first.interacted("shop", "a")
    second.published("shop", "new-users", ["a"])
    assert second.figures("shop", "all", Catalogue())["new_item_share"] == 0.0


def test_windows_tumble_and_keep_what_outlives_them():
    windows = ExposureWindows(window_ms=100, users_max=2)
    windows.product("shop", "a", "x", None)
    windows.interacted("shop", "u1", "a")
    windows.interacted("shop", "u1", "b")
    windows.published(105, "shop", "u1", ["a", "c"])
    assert not windows.advance(199)
    windows.published(250, "shop", "u1", ["c"])  # closes [100, 200) first
    assert windows.window == (100, 200)
    first = windows.completed["shop"]
    assert (first["all"]["lists"], first["returning-users"]["lists"]) == (1, 1)
    assert first["all"]["new_item_share"] == 0.5  # c: nobody's
    assert first["all"]["category"]["groups"][0]["group"] == "x"
    assert windows.advance(300) and windows.window == (200, 300)
    assert windows.completed["shop"]["all"]["lists"] == 1
    # Interactions outlive windows; users beyond the bound are forgotten, oldest first.
    windows.interacted("shop", "u2", "c")
    windows.interacted("shop", "u3", "c")
    assert ("shop", "u1") not in windows.users
    windows.published(310, "shop", "u1", ["c"])
    assert windows.advance(400)
    again = windows.completed["shop"]
    assert again["new-users"]["lists"] == 1, "u1 forgotten: counted new"
    assert again["all"]["new_item_share"] == 0.0


def test_each_completed_window_is_exported_once():
    windows = ExposureWindows(window_ms=100, users_max=10)
    export = ExposureExport(windows)
    assert not export.step()
    windows.published(5, "shop", "u", ["a", "b"])
    windows.advance(100)
    assert export.step() and not export.step()

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert sample("streamapp_exposure", tenant="shop", segment="new-users", figure="lists") == 1
    assert sample("streamapp_exposure", tenant="shop", segment="all", figure="coverage") == 1.0
    assert (
        sample(
            "streamapp_exposure_group_distance",
            tenant="shop",
            attribute="brand",
            reference="catalogue",
        )
        == 0.0
    )
