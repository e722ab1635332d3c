"""Which variant a user is in: a hash of the user, nothing stored, so the worker, the HTTP API
and the evaluator agree without talking, and restarts, rebalances and new workers change
nothing.

A user's place in a layer is a hash of the layer, the tenant and the user: an experiment takes
the users whose place falls in its ``traffic`` range, so experiments of one layer with disjoint
ranges never share a user, and layers (hashed apart) are independent. Within an experiment the
variant is a second hash, salted by the experiment, so the users of one range are dealt afresh
to each experiment that reuses it.

>>> from streamapp.experiments.definition import EXAMPLE, parse
>>> running = parse({**EXAMPLE, "status": "running"})
>>> [(e.experiment_id, v.name) for e, v in assign([running], "default", "u1")]
[('ranker-2026-12', 'hand-weights')]
>>> assign([running], "other-shop", "u1")
[]
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from streamapp.experiments.definition import Experiment, Treatment, Variant

__all__ = [
    "Assignment",
    "assign",
    "labels",
    "models_named",
    "pairs",
    "treatment_of",
    "unit_interval",
]

Assignment = list[tuple[Experiment, Variant]]


def unit_interval(*parts: str) -> float:
    """A uniform number in [0, 1) from the parts (64 bits of their BLAKE2b digest).

    >>> unit_interval("layer", "ranking", "default", "u1") == unit_interval(
    ...     "layer", "ranking", "default", "u1")
    True
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(experiments: Iterable[Experiment], tenant: str, user_id: str) -> Assignment:
    """The running experiments of ``tenant`` that hold the user, each with the user's variant,
    in the order of their layers."""
    out: Assignment = []
    for experiment in sorted(experiments, key=lambda e: (e.layer, e.experiment_id)):
        if not experiment.running or experiment.tenant != tenant:
            continue
        place = unit_interval("layer", experiment.layer, tenant, user_id)
        low, high = experiment.traffic
        if not low <= place < high:
            continue
        draw = unit_interval("variant", experiment.salt, tenant, user_id)
        for variant in experiment.variants:
            draw -= variant.share
            if draw < 0:
                break
        out.append((experiment, variant))
    return out


def treatment_of(assignment: Assignment) -> Treatment:
    """What the user's variants change, a later layer's setting over an earlier one's."""
    weights, ranker, exploration, model = None, None, None, None
    for _, variant in assignment:
        t = variant.treatment
        weights = t.score_weights if t.score_weights is not None else weights
        ranker = t.learned_ranker if t.learned_ranker is not None else ranker
        exploration = t.exploration if t.exploration is not None else exploration
        model = t.model if t.model is not None else model
    return Treatment(weights, ranker, exploration, model)


def labels(assignment: Assignment, default_variant: str) -> tuple[str, str]:
    """The ``experiment`` and ``variant`` a list carries: the user's experiments and variants,
    comma-separated in layer order (ids and names cannot hold a comma); none and the
    deployment's variant label when the user is in no experiment.

    >>> labels([], "control")
    ('', 'control')
    """
    if not assignment:
        return "", default_variant
    return (
        ",".join(e.experiment_id for e, _ in assignment),
        ",".join(v.name for _, v in assignment),
    )


def pairs(assignment: Assignment) -> list[tuple[str, str]]:
    """The user's (experiment id, variant name) pairs, as the metrics count them."""
    return [(e.experiment_id, v.name) for e, v in assignment]


def models_named(experiments: Iterable[Experiment]) -> set[str]:
    """The models the running experiments' treatments name (what a worker must have loaded)."""
    return {
        v.treatment.model
        for e in experiments
        if e.running
        for v in e.variants
        if v.treatment.model is not None
    }
