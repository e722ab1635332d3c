from __future__ import annotations

import math

import pytest

from streamapp.recommend.ranking_metrics import average_precision, hit_rate, ndcg, novelty

RANKED = ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("target", "k", "hr", "dcg", "ap"),
    [
        ("a", 10, 1.0, 1.0, 1.0),
        ("b", 10, 1.0, 1 / math.log2(3), 1 / 2),
        ("d", 10, 1.0, 1 / math.log2(5), 1 / 4),
        ("d", 3, 0.0, 0.0, 0.0),
        ("z", 10, 0.0, 0.0, 0.0),
    ],
)
def test_metrics_with_one_relevant_item(target, k, hr, dcg, ap):
    assert hit_rate(RANKED, target, k) == hr
    assert ndcg(RANKED, target, k) == pytest.approx(dcg)
    assert average_precision(RANKED, target, k) == pytest.approx(ap)


def test_novelty_is_mean_self_information_with_add_one_for_unseen():
    counts = {"a": 8, "b": 2}
    assert novelty(["a", "b"], counts, 16) == pytest.approx((1 + 3) / 2)
    assert novelty(["never"], counts, 16) == pytest.approx(4)
    assert novelty([], counts, 16) == 0.0
