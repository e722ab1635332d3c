"""The canary's verdict at one look: harm rolls back, a broken split decides nothing,
non-inferiority with enough users promotes."""

from __future__ import annotations

from streamapp.experiments.definition import parse
from streamapp.experiments.report import Look
from streamapp.experiments.statistics import Comparison
from streamapp.rollout.canary import GUARDRAILS, Verdict, canary, combine, verdict
from streamapp.settings import Settings

FLAT = Comparison(0.0, 0.0, -0.001, 0.001, 1.0)


def look(users=(900, 100), **comparisons: Comparison) -> Look:
    metrics = ("click_through", *GUARDRAILS)
    return Look(
        0,
        {"promoted": users[0], "candidate": users[1]},
        {"promoted": users[0], "candidate": users[1]},
        {(m, "candidate"): comparisons.get(m, FLAT) for m in metrics},
        {("click_through", "promoted"): 0.05},
        {},
    )


def judged(last: Look) -> Verdict:
    return verdict(last, "click_through", margin=0.1, min_users=100, alpha=0.05, shares=(0.9, 0.1))


def test_a_significantly_worse_primary_metric_rolls_back():
    worse = Comparison(-0.02, -0.4, -0.03, -0.01, 0.001)
    assert judged(look(click_through=worse)).action == "rollback"


def test_a_broken_guardrail_rolls_back_even_when_the_primary_metric_looks_fine():
    slower = Comparison(40.0, 3.0, 20.0, 60.0, 0.001)
    v = judged(look(freshness_ms=slower))
    assert v.action == "rollback" and "freshness_ms" in v.reason


def test_a_sample_ratio_mismatch_decides_nothing():
    worse = Comparison(-0.02, -0.4, -0.03, -0.01, 0.001)
    assert judged(look(users=(500, 500), click_through=worse)).action == "wait"


def test_non_inferiority_needs_the_bound_and_enough_users():
    assert judged(look()).action == "promote"
    assert judged(look(users=(450, 50))).action == "wait"
    wide = Comparison(0.0, 0.0, -0.01, 0.01, 1.0)  # the bound is 10 % of 0.05
    assert judged(look(click_through=wide)).action == "wait"


def test_one_tenants_rollback_outweighs_another_tenants_promotion():
    verdicts = {"a": Verdict("promote", "fine"), "b": Verdict("rollback", "worse")}
    assert combine(verdicts) == Verdict("rollback", "b: worse")
    assert combine({"a": Verdict("wait", "-"), "b": Verdict("promote", "ok")}).action == "promote"


def test_the_canary_is_a_valid_experiment_that_serves_the_candidate_to_its_share():
    experiment = parse(canary("mf-1", "default", Settings(rollout_canary_share=0.2), 1_000))
    assert [v.share for v in experiment.variants] == [0.8, 0.2]
    assert [v.treatment.model for v in experiment.variants] == ["promoted", "candidate"]
    assert experiment.running
