"""The evaluator against hand-computed values on a tiny log (through the real Redis scripts)."""

from __future__ import annotations

import math
import random

import pytest

from streamapp.datasets.catalog import Interaction
from streamapp.evaluation.prequential import evaluate, markdown, write
from streamapp.evaluation.tuning import tune
from streamapp.experiments.assignment import assign
from streamapp.experiments.definition import EXAMPLE, parse
from streamapp.settings import Settings

pytestmark = pytest.mark.integration

LOG = [
    Interaction("u1", "a", "click", 0, "c"),
    Interaction("u1", "b", "click", 1_000, "c"),
    Interaction("u1", "a", "click", 2_000, "c"),
]


async def test_prequential_metrics_match_hand_computation(stack, tmp_path):
    report = await evaluate(Settings(), LOG, progress=False)
    recent = report["systems"]["recently-viewed"]["all"]
    # Tests before learning: e0 has no history; e1 sees [a] (target b); e2 sees [b, a] and its
    # target a is at rank 2: HR 1, NDCG 1/log2(3), AP 1/2. Means over three events.
    assert recent["events"] == 3
    assert recent["hr@10"] == pytest.approx(1 / 3, abs=1e-5)
    assert recent["ndcg@10"] == pytest.approx(1 / math.log2(3) / 3, abs=1e-5)
    assert recent["map@10"] == pytest.approx(0.5 / 3, abs=1e-5)
    assert recent["coverage"] == 1.0
    # Novelty: [a] after one interaction with a → 0 bits; [b, a] after a, b → 1 bit each.
    assert recent["novelty"] == pytest.approx(1 / 3, abs=1e-3)
    # Decayed popularity before e2: b (newer) outranks a.
    popular = report["systems"]["decayed-popularity"]["all"]
    assert popular["ndcg@10"] == pytest.approx(1 / math.log2(3) / 3, abs=1e-5)
    # Protocol "new": e0 and e1 only (e2 repeats a); nothing new can be recommended from
    # the user's own history or from items the user has already seen.
    new = report["systems"]["recently-viewed"]["new"]
    assert new["events"] == 2
    assert new["hr@10"] == 0.0
    assert recent["segments"]["new-users"]["events"] == 1
    assert recent["segments"]["returning-users"]["events"] == 2
    assert recent["segments"]["cold-items"]["events"] == 3

    # Exposure of the lists shown (protocol all): [], [a], [b, a] over the catalogue {a, b}.
    exposure = report["systems"]["recently-viewed"]["exposure"]
    every = exposure["all"]
    assert (every["lists"], every["exposures"], every["coverage"]) == (3, 3, 1.0)
    assert every["gini"] == pytest.approx(1 / 6, abs=1e-4)  # a shown twice, b once
    assert every["new_item_share"] == 0.0  # each shown item was touched before its list
    assert every["long_tail_share"] == pytest.approx(1 / 3, abs=1e-4)  # the head is {a}
    assert (exposure["new-users"]["lists"], exposure["returning-users"]["lists"]) == (1, 2)
    assert every["category"]["distance_to_catalogue"] == 0.0

    paths = write(report, tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    assert "| recently-viewed | 0.3333 |" in markdown(report)
    assert "| recently-viewed | 3 | 1.0000 | 0.1667 | 0.3333 | 0.0000 |" in markdown(report)


async def test_evaluation_is_deterministic(stack):
    log = [Interaction(f"u{n % 3}", f"i{(n * 7) % 5}", "click", n * 1_000, "c") for n in range(30)]
    first = await evaluate(Settings(), log, progress=False, seed=1)
    second = await evaluate(Settings(), log, progress=False, seed=1)
    first.pop("seconds")
    second.pop("seconds")
    assert first == second


async def test_an_experiment_tests_each_user_on_the_variant_the_worker_deals_them(stack):
    experiment = parse({**EXAMPLE, "status": "running"})  # control / hand-weights
    log = [Interaction(f"u{n % 9}", f"i{(n * 7) % 5}", "click", n * 1_000, "c") for n in range(45)]
    report = await evaluate(Settings(), log, progress=False, experiment=experiment)
    assert set(report["systems"]) == {"control", "hand-weights"}
    dealt = {f"u{n}": assign([experiment], "default", f"u{n}")[0][1].name for n in range(9)}
    expected = {v: sum(1 for d in dealt.values() if d == v) for v in ("control", "hand-weights")}
    assert report["users"] == expected
    events = {v: report["systems"][v]["all"]["events"] for v in expected}
    assert events == {v: 5 * users for v, users in expected.items()}


def chain_log(events: int, seed: int) -> list[Interaction]:
    """Shoppers walk a fixed chain of items (i0 → i1 → …), each starting somewhere of their
    own: what comes next is exactly the sequence source's knowledge."""
    rng = random.Random(seed)
    log, t = [], 0
    for shopper in range(events // 6):
        start = rng.randrange(40)
        for step in range(6):
            t += 1_000
            log.append(Interaction(f"u{shopper}", f"i{(start + step) % 40}", "click", t, "c"))
    return log


async def test_the_choice_is_made_on_the_tuning_part_alone_and_judged_on_the_rest(stack):
    log = chain_log(600, seed=3)
    half = len(log) // 2
    tuned = await tune(Settings(), log, 0.5, progress=False)
    # Whatever the test part holds, the tuning part decides alone.
    scrambled = log[:half] + [
        Interaction(e.user_id, f"x{n}", "click", e.ts_ms, "c") for n, e in enumerate(log[half:])
    ]
    assert (await tune(Settings(), scrambled, 0.5, progress=False)).chosen == tuned.chosen
    assert tuned.validation_events == half - int(half * 0.6)
    weights = tuned.chosen["score_weights"]
    assert weights["sequence"] > Settings().score_weights["sequence"], tuned.rounds
    assert len(tuned.rounds) == 3 and "current" in tuned.rounds[0]
    assert "STREAMAPP_SCORE_WEIGHTS='{" in tuned.env()

    report = await evaluate(
        Settings().model_copy(update=tuned.chosen), log, tuning_part=0.5, progress=False
    )
    assert report["tested_from"] == half
    assert report["systems"]["full"]["all"]["events"] == len(log) - half
    assert "the first 300 are the tuning part" in markdown(report)
    assert report["systems"]["full"]["all"]["ndcg@10"] >= max(
        report["systems"][b]["all"]["ndcg@10"] for b in ("co-visitation", "recently-viewed")
    )
