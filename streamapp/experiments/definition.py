"""An experiment as data: the ``experiments`` topic's record (``schemas/experiment.v1.json``),
checked beyond the schema and turned into the plan a data scientist signs before it starts.

>>> e = parse(EXAMPLE)
>>> [v.name for v in e.variants], e.variants[1].treatment.learned_ranker
(['control', 'hand-weights'], False)
>>> planned_users(e)  # a 5 % conversion rate, a 5 % relative lift
462404
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamapp.contracts.messages import SOURCES
from streamapp.contracts.schemas import contract
from streamapp.experiments.statistics import sample_size

__all__ = [
    "EXAMPLE",
    "Experiment",
    "InvalidExperiment",
    "Treatment",
    "Variant",
    "parse",
    "planned_users",
]

# Metrics that are a share of users or exposures: their per-user spread follows from the rate.
RATES = frozenset({"click_through", "add_to_cart", "conversion", "returns", "empty_lists"})

EXAMPLE: dict[str, Any] = {
    "experiment_id": "ranker-2026-12",
    "tenant": "default",
    "layer": "ranking",
    "variants": [
        {"name": "control", "share": 0.5},
        {"name": "hand-weights", "share": 0.5, "treatment": {"learned_ranker": False}},
    ],
    "primary_metric": "conversion",
    "secondary_metrics": ["click_through", "revenue_per_user"],
    "guardrails": ["empty_lists"],
    "plan": {"baseline": 0.05, "minimum_detectable_effect": 0.05},
    "status": "draft",
    "ts": 1764158400000,
}


class InvalidExperiment(ValueError):
    """A definition that cannot run, with what to change."""


@dataclass(frozen=True)
class Treatment:
    """What a variant changes; None keeps the deployment's setting. ``model`` is
    ``promoted``, ``candidate`` (a canary rollout's) or a snapshot version."""

    score_weights: dict[str, float] | None = None
    learned_ranker: bool | None = None
    exploration: float | None = None
    model: str | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    share: float
    treatment: Treatment = field(default_factory=Treatment)


@dataclass(frozen=True)
class Experiment:
    """One version of an experiment's record; ``document`` is the record itself (what
    ``start`` and ``stop`` publish again with a new status)."""

    experiment_id: str
    tenant: str
    layer: str
    traffic: tuple[float, float]
    salt: str
    variants: tuple[Variant, ...]
    status: str
    document: dict[str, Any]

    @property
    def running(self) -> bool:
        return self.status == "running"

    def overlaps(self, other: Experiment) -> bool:
        """Whether the two would share users of one layer of one tenant."""
        return (
            self.tenant == other.tenant
            and self.layer == other.layer
            and self.traffic[0] < other.traffic[1]
            and other.traffic[0] < self.traffic[1]
        )


def parse(document: Mapping[str, Any]) -> Experiment:
    """A record checked against the schema and for what the schema cannot say."""
    errors = [
        f"{'/'.join(map(str, e.instance_path)) or 'the record'}: {e.message}"
        for e in contract("experiment").iter_errors(dict(document))
    ]
    if errors:
        raise InvalidExperiment("; ".join(errors))
    names = [v["name"] for v in document["variants"]]
    if len(set(names)) != len(names):
        raise InvalidExperiment(f"variant names repeat: {names}")
    shares = sum(v["share"] for v in document["variants"])
    if not math.isclose(shares, 1.0, abs_tol=1e-9):
        raise InvalidExperiment(f"variant shares add up to {shares}, not 1")
    low, high = document.get("traffic", [0.0, 1.0])
    if low >= high:
        raise InvalidExperiment(f"traffic [{low}, {high}) holds no users")
    variants = []
    for v in document["variants"]:
        treatment = v.get("treatment", {})
        unknown = set(treatment.get("score_weights", {})) - set(SOURCES)
        if unknown:
            raise InvalidExperiment(f"variant {v['name']}: no source {sorted(unknown)}")
        variants.append(Variant(v["name"], float(v["share"]), Treatment(**treatment)))
    experiment = Experiment(
        document["experiment_id"],
        document["tenant"],
        document["layer"],
        (float(low), float(high)),
        document.get("salt", document["experiment_id"]),
        tuple(variants),
        document["status"],
        dict(document),
    )
    planned_users(experiment)
    return experiment


def planned_users(experiment: Experiment) -> int | None:
    """Users the experiment needs (in all its variants) so that the always-valid test finds
    the planned relative effect on the primary metric between the first variant (the control)
    and each other one with the planned power; None without a planned baseline (a canary's:
    :mod:`streamapp.rollout.canary`)."""
    plan = experiment.document["plan"]
    if "baseline" not in plan:
        return None
    baseline, relative = plan["baseline"], plan["minimum_detectable_effect"]
    metric = experiment.document["primary_metric"]
    sd = plan.get("sd")
    if sd is None:
        if metric not in RATES or baseline >= 1:
            raise InvalidExperiment(
                f"plan.sd is needed for {metric} (a rate's spread follows from a baseline < 1)"
            )
        sd = math.sqrt(baseline * (1 - baseline))
    control = experiment.variants[0].share
    needed = 0.0
    for treated in experiment.variants[1:]:
        pair = control + treated.share
        users = sample_size(
            sd,
            baseline * relative,
            alpha=plan.get("alpha", 0.05),
            target=plan.get("power", 0.8),
            shares=(control / pair, treated.share / pair),
        )
        needed = max(needed, users / pair)
    return math.ceil(needed)
