from __future__ import annotations

import random

import pytest

from streamapp.learning.factors import ImplicitMF


@pytest.mark.parametrize("loss", ["pairwise", "pointwise"])
def test_each_loss_learns_who_likes_what(loss):
    mf = ImplicitMF(n_factors=8, loss=loss, seed=3)
    for _ in range(300):
        for user, items in {"a": ("x1", "x2"), "b": ("y1", "y2")}.items():
            for item in items:
                mf.learn_one(user, item, 1.0)
    assert mf.score("a", "x1") > mf.score("a", "y1")
    assert mf.score("b", "y2") > mf.score("b", "x2")


def test_same_seed_same_model():
    def trained() -> list[float]:
        mf = ImplicitMF(n_factors=4, seed=5)
        for n in range(50):
            mf.learn_one(f"u{n % 3}", f"i{n % 7}", 1.0)
        return [mf.score("u1", f"i{i}") for i in range(7)]

    assert trained() == trained()


def test_reading_never_creates_vectors():
    mf = ImplicitMF(n_factors=4)
    mf.learn_one("u", "i", 1.0)
    assert mf.user_vector("stranger") is None
    assert mf.score("stranger", "i") == 0.0
    ids, vectors = mf.item_vectors()
    assert ids == ["i"]
    assert vectors.shape == (1, 4)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="pairwise"):
        ImplicitMF(loss="hinge")


def test_support_counts_positives_not_sampled_negatives():
    mf = ImplicitMF(n_factors=4, seed=1)
    for item in ["a", "b", "a", "c", "a"]:
        mf.learn_one("u", item, 1.0)
    assert mf.supports(["a", "b", "c", "never"]).tolist() == [3, 1, 1, 0]


def test_vectors_of_idle_users_and_items_are_dropped_beyond_the_bounds():
    mf = ImplicitMF(n_factors=4, seed=3, users_max=50, items_max=100)
    rng = random.Random(7)
    for n in range(20_000):
        mf.learn_one(f"u{rng.randrange(10_000)}", f"i{n}", 1.0)
    assert len(mf.model.u_latents) <= 50
    assert len(mf.model.i_latents) <= 100
    assert set(mf.support) <= set(mf.model.i_latents)
    # The newest are kept: they are what the next events are about.
    assert "i19999" in mf.model.i_latents and mf.support["i19999"] == 1
    ids, vectors = mf.item_vectors()
    assert len(ids) == vectors.shape[0] <= 100


def test_negatives_are_drawn_from_the_positives_own_tenant():
    """Two shops' events interleaved: no item of one is ever a negative for the other, and
    a shop's item vectors do not move when only the other shop's shoppers are learned."""
    mf = ImplicitMF(n_factors=4, seed=2, memory=50)
    for n in range(400):
        mf.learn_one(f"a:u{n % 5}", f"a:i{n % 9}", 1.0, "a")
        mf.learn_one(f"b:u{n % 5}", f"b:i{n % 9}", 1.0, "b")
    drawn = {mf.negative("a:i0", "a") for _ in range(500)} - {None}
    assert drawn and all(item.startswith("a:") for item in drawn)
    assert all(
        item.startswith("b:") for item in {mf.negative("b:i0", "b") for _ in range(500)} - {None}
    )
    assert mf.negative("a:i0", "unknown shop") is None
    before = {i: mf.model.i_latents[i].copy() for i in ("a:i1", "a:i2")}
    for n in range(100):
        mf.learn_one(f"b:u{n % 5}", f"b:i{n % 9}", 1.0, "b")
    assert all((mf.model.i_latents[i] == v).all() for i, v in before.items())
