"""An experiment's report: per variant its users and exposures, per metric and treatment the
value, lift and always-valid confidence sequence, and the decision they support.

The records are replayed in time order and the comparison is taken at ``looks`` evenly spaced
instants, as a dashboard would have been read; each metric's p-value is the running minimum
over the looks (always valid), and the last look is the report.

Decisions, in order: a sample-ratio mismatch blocks every other (``continue``, with
``blocked_by``); a guardrail significantly worse in any variant stops it (``stop``); a primary
metric significantly better after Holm's correction over the primary and secondary metrics
ships that variant (``ship``), significantly worse in every variant stops it (``stop``); the
planned users reached with neither is ``no_difference``; anything else is ``continue``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from streamapp.experiments.attribution import METRICS, Attribution, Timeline, UserOutcome, moments
from streamapp.experiments.definition import Experiment, planned_users
from streamapp.experiments.statistics import (
    Comparison,
    Estimate,
    Moments,
    compare,
    cuped,
    estimate,
    holm,
    srm_p_value,
)

__all__ = [
    "CUPED_METRICS",
    "LOWER_IS_BETTER",
    "SRM_ALPHA",
    "Look",
    "decide",
    "look",
    "plot",
    "replay",
    "report",
    "table",
]

# Metrics where a rise is harm.
LOWER_IS_BETTER = frozenset({"returns", "empty_lists", "freshness_ms"})
# A split this unlikely under the planned shares means the assignment or the logging is broken.
SRM_ALPHA = 0.001
# Per-user metrics (one per user, not a ratio over lists) whose pre-experiment value is a
# covariate: what the user bought before predicts what they buy during.
CUPED_METRICS = frozenset({"conversion", "revenue_per_user"})
# What a user did before the experiment, by (tenant, user): the covariates of CUPED.
Before = dict[tuple[str, str], UserOutcome]
# Control users a metric without a planned baseline needs before its value sets the mixture's
# spread (a first handful of users would set it by chance).
TAU_USERS = 100


@dataclass(frozen=True)
class Look:
    """The comparisons at one instant: per (metric, treated variant)."""

    at: int
    users: dict[str, int]
    exposures: dict[str, int]
    comparisons: dict[tuple[str, str], Comparison]
    values: dict[tuple[str, str], float]  # per (metric, variant), the control's included
    taus: dict[str, float]  # per metric, the mixture's spread, fixed once set
    adjusted: frozenset[str] = frozenset()  # metrics adjusted by CUPED


def _metrics(experiment: Experiment) -> list[str]:
    doc = experiment.document
    names = [doc["primary_metric"], *doc.get("secondary_metrics", []), *doc.get("guardrails", [])]
    return list(dict.fromkeys(names))


def look(
    experiment: Experiment,
    attribution: Attribution,
    at: int,
    previous: Look | None,
    before: Before | None = None,
) -> Look:
    """Every metric of every treated variant against the control (the first variant); with
    ``before``, the per-user metrics adjusted by CUPED on the users' pre-experiment values."""
    plan = experiment.document["plan"]
    alpha = plan.get("alpha", 0.05)
    control = experiment.variants[0].name
    groups = {
        v.name: attribution.users.get((experiment.experiment_id, v.name), {})
        for v in experiment.variants
    }
    users = {name: len(group) for name, group in groups.items()}
    exposures = {name: sum(u.exposures for u in group.values()) for name, group in groups.items()}
    comparisons: dict[tuple[str, str], Comparison] = {}
    values: dict[tuple[str, str], float] = {}
    taus = dict(previous.taus) if previous else {}
    for metric in _metrics(experiment):
        if before and metric in CUPED_METRICS:
            estimates = _adjusted(groups, metric, before)
        else:
            estimates = {name: estimate(moments(group, metric)) for name, group in groups.items()}
        for name, e in estimates.items():
            values[(metric, name)] = e.value
        base = estimates[control]
        if metric not in taus:
            taus.update(_tau(experiment, metric, base.value, users[control]))
        tau = taus.get(metric, 1.0)  # no data yet: infinite variance, no evidence either way
        for variant in experiment.variants[1:]:
            earlier = previous.comparisons.get((metric, variant.name)) if previous else None
            comparisons[(metric, variant.name)] = compare(
                base,
                estimates[variant.name],
                alpha,
                tau,
                earlier.p_value if earlier else 1.0,
            )
    adjusted = frozenset(CUPED_METRICS & set(_metrics(experiment))) if before else frozenset()
    return Look(at, users, exposures, comparisons, values, taus, adjusted)


def _adjusted(
    groups: dict[str, dict[tuple[str, str], UserOutcome]], metric: str, before: Before
) -> dict[str, Estimate]:
    """Each variant's per-user metric minus θ × the user's pre-experiment value (centred; 0
    for a user with no history), one θ over all variants (:func:`.statistics.cuped`)."""
    names = list(groups)
    values = [np.array([METRICS[metric](u)[0] for u in groups[n].values()]) for n in names]
    if sum(len(v) for v in values) < 2:
        return {n: estimate(Moments.of(v)) for n, v in zip(names, values, strict=True)}
    empty = UserOutcome()
    history = [
        np.array([METRICS[metric](before.get(key, empty))[0] for key in groups[n]]) for n in names
    ]
    adjusted = cuped(values, history)
    return {n: estimate(Moments.of(a)) for n, a in zip(names, adjusted, strict=True)}


def _tau(experiment: Experiment, metric: str, control: float, users: int) -> dict[str, float]:
    """The mixture's spread for a metric: the planned relative effect on the metric's planned
    baseline (``plan.baseline`` for the primary metric, ``plan.baselines`` for others), else
    on the control's value once it has ``TAU_USERS`` users (a canary's primary metric). Fixed
    once set, since a spread that followed the data would void the p-values' validity. A
    spread far below the true effect costs power (a metric that accumulates per user, like
    conversion, starts low): plan the baselines of the metrics that matter."""
    plan = experiment.document["plan"]
    if metric == experiment.document["primary_metric"] and "baseline" in plan:
        return {metric: plan["baseline"] * plan["minimum_detectable_effect"]}
    if metric in plan.get("baselines", {}):
        return {metric: plan["baselines"][metric] * plan["minimum_detectable_effect"]}
    if users >= TAU_USERS and math.isfinite(control) and control:
        return {metric: abs(control) * plan["minimum_detectable_effect"]}
    return {}


def decide(
    experiment: Experiment, last: Look
) -> tuple[str, str | None, dict[tuple[str, str], bool]]:
    """(decision, what blocks it, per (metric, variant) whether it is significant)."""
    doc = experiment.document
    alpha = doc["plan"].get("alpha", 0.05)
    shares = [v.share for v in experiment.variants]
    srm = srm_p_value([last.users[v.name] for v in experiment.variants], shares)
    family = list(dict.fromkeys([doc["primary_metric"], *doc.get("secondary_metrics", [])]))
    significant: dict[tuple[str, str], bool] = {}
    for variant in experiment.variants[1:]:
        flags = holm([last.comparisons[(m, variant.name)].p_value for m in family], alpha)
        significant.update({(m, variant.name): f for m, f in zip(family, flags, strict=True)})
        for metric in doc.get("guardrails", []):
            significant.setdefault(
                (metric, variant.name), last.comparisons[(metric, variant.name)].significant(alpha)
            )
    if srm < SRM_ALPHA:
        return "continue", "sample_ratio_mismatch", significant

    def worse(metric: str, variant: str) -> bool:
        c = last.comparisons[(metric, variant)]
        harm = c.difference > 0 if metric in LOWER_IS_BETTER else c.difference < 0
        return significant[(metric, variant)] and harm

    treated = [v.name for v in experiment.variants[1:]]
    if any(worse(m, v) for m in doc.get("guardrails", []) for v in treated):
        return "stop", None, significant
    primary = doc["primary_metric"]
    if any(significant[(primary, v)] and not worse(primary, v) for v in treated):
        return "ship", None, significant
    if all(worse(primary, v) for v in treated):
        return "stop", None, significant
    planned = planned_users(experiment)
    if planned is not None and sum(last.users.values()) >= planned:
        return "no_difference", None, significant
    return "continue", None, significant


def report(experiment: Experiment, looks: list[Look]) -> dict[str, Any]:
    """The report object (``streamapp experiment report --json``) from the looks, oldest
    first."""
    last = looks[-1]
    decision, blocked_by, significant = decide(experiment, last)
    shares = [v.share for v in experiment.variants]
    control = experiment.variants[0].name
    metrics = []
    for (metric, variant), c in last.comparisons.items():
        metrics.append(
            {
                "name": metric,
                "variant": variant,
                "value": last.values[(metric, variant)],
                "control": last.values[(metric, control)],
                "lift": c.lift,
                "difference": c.difference,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p_value": c.p_value,
                "significant": significant[(metric, variant)],
                "cuped": metric in last.adjusted,
            }
        )
    return {
        "experiment_id": experiment.experiment_id,
        "status": experiment.status,
        "decision": decision,
        "blocked_by": blocked_by,
        "srm_p_value": srm_p_value([last.users[v.name] for v in experiment.variants], shares),
        "planned_users": planned_users(experiment),
        "variants": [
            {
                "name": v.name,
                "share": v.share,
                "users": last.users[v.name],
                "exposures": last.exposures[v.name],
            }
            for v in experiment.variants
        ],
        "metrics": metrics,
        "looks": [
            {
                "at": lk.at,
                "metrics": {
                    f"{m}:{v}": [c.difference, c.ci_low, c.ci_high]
                    for (m, v), c in lk.comparisons.items()
                },
            }
            for lk in looks
        ],
    }


def pre_period(timeline: Timeline, started_at: int) -> tuple[Before, Timeline]:
    """What each user bought before ``started_at`` (their purchases and revenue), and the
    timeline from then on."""
    before: Before = {}
    for n, (ts, kind, record) in enumerate(timeline):
        if ts >= started_at:
            return before, timeline[n:]
        if kind == 1 and record["interaction"] == "purchase":
            user = before.setdefault((record["tenant"], record["user_id"]), UserOutcome())
            user.purchases += 1
            user.revenue += record.get("quantity", 1) * record.get("price", 0.0)
    return before, []


def replay(
    experiment: Experiment,
    timeline: Timeline,
    window_ms: int,
    count: int = 20,
    before: Before | None = None,
) -> list[Look]:
    """The timeline applied in order, with a look at each of ``count`` evenly spaced instants
    between its first and last record; ``before`` adjusts the per-user metrics (CUPED)."""
    attribution = Attribution(window_ms)
    if not timeline:
        return [look(experiment, attribution, 0, None, before)]
    first, last = timeline[0][0], timeline[-1][0]
    looks: list[Look] = []
    applied = 0
    for n in range(1, count + 1):
        at = first + (last - first) * n // count
        while applied < len(timeline) and timeline[applied][0] <= at:
            attribution.apply(timeline[applied])
            applied += 1
        looks.append(look(experiment, attribution, at, looks[-1] if looks else None, before))
    return looks


def table(body: dict[str, Any]) -> str:
    """The report as a markdown table (what ``report`` prints and writes to ``report.md``)."""
    lines = [
        f"# Experiment {body['experiment_id']} ({body['status']})",
        "",
        f"decision: **{body['decision']}**"
        + (f" (blocked by {body['blocked_by']})" if body["blocked_by"] else ""),
        f"sample-ratio p-value: {body['srm_p_value']:.4f}; "
        f"users planned: {body['planned_users'] or 'not planned'}",
        "",
        "| variant | share | users | exposures |",
        "|---|---|---|---|",
        *(
            f"| {v['name']} | {v['share']:.0%} | {v['users']} | {v['exposures']} |"
            for v in body["variants"]
        ),
        "",
        "| metric | variant | value | control | lift | always-valid CI of the difference "
        "| p | significant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in body["metrics"]:
        lines.append(
            f"| {m['name']} | {m['variant']} | {m['value']:.4g} | {m['control']:.4g} | "
            f"{m['lift']:+.1%} | [{m['ci_low']:.4g}, {m['ci_high']:.4g}] | {m['p_value']:.3g} | "
            f"{'yes' if m['significant'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def plot(body: dict[str, Any], path: Path) -> None:
    """Each metric's difference and its confidence sequence over the looks, one panel each."""
    names = [f"{m['name']}:{m['variant']}" for m in body["metrics"]]
    figure = Figure(figsize=(8, 2.2 * max(1, len(names))))
    for n, name in enumerate(names):
        axes = figure.add_subplot(len(names), 1, n + 1)
        looks = [lk for lk in body["looks"] if name in lk["metrics"]]
        times = [(lk["at"] - looks[0]["at"]) / 60_000 for lk in looks]
        diff, low, high = ([_finite(lk["metrics"][name][i]) for lk in looks] for i in range(3))
        axes.fill_between(times, low, high, alpha=0.3, label="confidence sequence")
        axes.plot(times, diff, label="difference")
        axes.axhline(0.0, color="grey", linewidth=0.8)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("minutes since the first look")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _finite(value: float) -> float:
    """A plottable value: an unbounded side of an interval drawn as not a number."""
    return value if value is not None and math.isfinite(value) else math.nan
