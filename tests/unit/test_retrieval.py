from __future__ import annotations

import numpy as np
import pytest

from streamapp.learning.retrieval import (
    AnnoyIndex,
    ExactIndex,
    build_for,
    retrievable,
)


def vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.mark.parametrize("factory", [ExactIndex, AnnoyIndex])
def test_every_index_returns_the_best_items_by_inner_product(factory):
    ids = [f"i{n}" for n in range(300)]
    data = vectors(300)
    index = factory(ids, data)
    query = data[7] * 3
    exact = ExactIndex(ids, data).query(query, 10)
    hits = index.query(query, 10)
    assert len(index) == 300
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    recall = len({i for i, _ in hits} & {i for i, _ in exact}) / 10
    assert recall >= 0.8
    assert hits[0][0] == exact[0][0]


def test_exact_index_on_an_empty_or_small_catalogue():
    assert ExactIndex([], np.zeros((0, 4))).query(np.ones(4), 5) == []
    assert [i for i, _ in ExactIndex(["a"], np.ones((1, 4))).query(np.ones(4), 5)] == ["a"]


def test_build_picks_exact_below_the_crossover():
    assert isinstance(build_for(["a"], np.ones((1, 4)), crossover=10), ExactIndex)
    ids = [f"i{n}" for n in range(20)]
    assert isinstance(build_for(ids, vectors(20, 4), crossover=10), AnnoyIndex)


@pytest.mark.parametrize("factory", [ExactIndex, AnnoyIndex])
def test_a_batch_of_queries_answers_each_as_a_single_query_would(factory):
    ids = [f"i{n}" for n in range(500)]
    index = factory(ids, vectors(500))
    queries = vectors(150, seed=9)  # more than one chunk of the batched product
    batched = index.query_many(queries, 10)
    single = [index.query(q, 10) for q in queries]
    # The same items in the same order; scores agree to float32 rounding (GEMM vs GEMV).
    assert [[i for i, _ in hits] for hits in batched] == [[i for i, _ in hits] for hits in single]
    for many, one in zip(batched, single, strict=True):
        assert [s for _, s in many] == pytest.approx([s for _, s in one], rel=1e-5)
    assert index.query_many(queries[:0], 10) == []


def test_only_items_with_enough_support_are_retrievable():
    ids = ["a", "b", "c"]
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    kept, rows = retrievable(ids, vectors, np.array([1, 2, 5], dtype=np.uint32), 2)
    assert kept == ["b", "c"]
    assert np.array_equal(rows, vectors[1:])
    assert retrievable(ids, vectors, None, 2)[0] == ids
    assert retrievable(ids, vectors, np.zeros(3, dtype=np.uint32), 1)[0] == ids
