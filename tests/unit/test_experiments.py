"""Experiments as data: what a definition may say, and how users are dealt to variants."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from streamapp.experiments.assignment import assign, labels, treatment_of, unit_interval
from streamapp.experiments.definition import EXAMPLE, InvalidExperiment, parse, planned_users
from streamapp.experiments.statistics import srm_p_value

USERS = [f"u{n}" for n in range(40_000)]


def running(**changes) -> dict:
    return {**copy.deepcopy(EXAMPLE), "status": "running", **changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"variants": [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]}, "add up"),
        ({"variants": [{"name": "a", "share": 0.5}, {"name": "a", "share": 0.5}]}, "repeat"),
        ({"traffic": [0.5, 0.5]}, "holds no users"),
        ({"plan": {"baseline": 20.0, "minimum_detectable_effect": 0.05}}, "plan.sd is needed"),
        ({"primary_metric": "revenue_per_user"}, "plan.sd is needed"),
        ({"plan": {"baseline": 0.05}}, "minimum_detectable_effect"),
        ({"variants": [{"name": "a", "share": 1.0}]}, "variants"),
        ({"status": "paused"}, "status"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_definition_that_cannot_run_is_refused_with_what_to_change(changes, reason):
    with pytest.raises(InvalidExperiment, match=reason):
        parse({**copy.deepcopy(EXAMPLE), **changes})


def test_a_plan_without_a_baseline_runs_unplanned_and_a_treatment_can_name_a_model():
    document = running(plan={"minimum_detectable_effect": 0.1})
    document["variants"][1]["treatment"] = {"model": "candidate"}
    experiment = parse(document)
    assert planned_users(experiment) is None
    assert experiment.variants[1].treatment.model == "candidate"


def test_a_weight_for_a_source_that_does_not_exist_is_refused():
    document = copy.deepcopy(EXAMPLE)
    document["variants"][1]["treatment"] = {"score_weights": {"trending": 1.0}}
    with pytest.raises(InvalidExperiment, match="no source \\['trending'\\]"):
        parse(document)


def test_the_plan_grows_with_a_smaller_effect_and_an_uneven_split():
    base = planned_users(parse(EXAMPLE))
    finer = running(plan={"baseline": 0.05, "minimum_detectable_effect": 0.025})
    assert planned_users(parse(finer)) == pytest.approx(4 * base, rel=0.05)
    uneven = running(variants=[{"name": "c", "share": 0.9}, {"name": "t", "share": 0.1}])
    assert planned_users(parse(uneven)) > 2 * base


def test_every_user_gets_one_variant_in_the_planned_shares_and_always_the_same():
    experiment = parse(
        running(
            variants=[
                {"name": "control", "share": 0.5},
                {"name": "a", "share": 0.3},
                {"name": "b", "share": 0.2},
            ]
        )
    )
    dealt = {u: assign([experiment], "default", u) for u in USERS}
    assert all(len(a) == 1 for a in dealt.values())
    counts = Counter(a[0][1].name for a in dealt.values())
    assert srm_p_value([counts["control"], counts["a"], counts["b"]], [0.5, 0.3, 0.2]) > 0.001
    assert all(assign([experiment], "default", u) == dealt[u] for u in USERS[:1000])


def test_experiments_of_one_layer_with_disjoint_traffic_never_share_a_user():
    first = parse(running(experiment_id="first", traffic=[0.0, 0.3]))
    second = parse(running(experiment_id="second", traffic=[0.3, 1.0]))
    assert not first.overlaps(second)
    held = Counter(len(assign([first, second], "default", u)) for u in USERS)
    assert held == {1: len(USERS)}
    share = sum(1 for u in USERS if assign([first, second], "default", u)[0][0] is first)
    assert share / len(USERS) == pytest.approx(0.3, abs=0.01)
    assert first.overlaps(parse(running(experiment_id="third", traffic=[0.2, 0.5])))


def test_layers_are_independent_so_a_user_is_in_one_experiment_of_each():
    ranking = parse(running(experiment_id="ranking"))
    exploring = parse(running(experiment_id="exploring", layer="exploration"))
    pairs = Counter(
        tuple(v.name for _, v in assign([ranking, exploring], "default", u)) for u in USERS
    )
    assert len(pairs) == 4
    assert srm_p_value(list(pairs.values()), [1, 1, 1, 1]) > 0.001


def test_a_new_salt_deals_the_users_of_a_range_afresh():
    before = parse(running(experiment_id="before"))
    after = parse(running(experiment_id="after"))
    same = sum(
        assign([before], "default", u)[0][1].name == assign([after], "default", u)[0][1].name
        for u in USERS
    )
    assert same / len(USERS) == pytest.approx(0.5, abs=0.02)


def test_drafts_stopped_experiments_and_other_tenants_hold_no_one():
    assert assign([parse(EXAMPLE)], "default", "u1") == []
    assert assign([parse(running(status="stopped"))], "default", "u1") == []
    assert assign([parse(running())], "shop2", "u1") == []
    assert labels([], "control") == ("", "control")


def almost_all(experiment_id: str, exploration: float):
    """A running experiment of its own layer whose first variant holds (nearly) every user."""
    return parse(
        running(
            experiment_id=experiment_id,
            layer=experiment_id,
            variants=[
                {"name": "x", "share": 1.0 - 1e-12, "treatment": {"exploration": exploration}},
                {"name": "y", "share": 1e-12},
            ],
        )
    )


def test_a_later_layers_treatment_wins_and_what_no_layer_sets_stays_unset():
    a, b = almost_all("a", 0.5), almost_all("b", 0.0)
    assignment = assign([b, a], "default", "u1")
    assert labels(assignment, "control") == ("a,b", "x,x")
    treatment = treatment_of(assignment)
    assert (treatment.exploration, treatment.learned_ranker, treatment.score_weights) == (
        0.0,
        None,
        None,
    )


def test_the_unit_interval_is_uniform():
    draws = [unit_interval("layer", "ranking", "default", u) for u in USERS]
    assert min(draws) >= 0 and max(draws) < 1
    counts = Counter(int(d * 10) for d in draws)
    assert srm_p_value([counts[b] for b in range(10)], [1] * 10) > 0.001
