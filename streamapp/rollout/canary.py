"""A canary: the candidate model against the promoted one as an experiment of its own (one per
tenant, in a layer of its own), and the verdict each look supports.

The verdict, per tenant, in order: a sample-ratio mismatch decides nothing (``wait``); a
guardrail (empty lists, freshness) or the primary metric significantly worse for the
candidate's users rolls it back — the three harm tests share the canary's alpha (Bonferroni),
so a candidate as good as the promoted model is rolled back with probability at most alpha;
the primary metric shown non-inferior — the always-valid confidence sequence of the difference
lies above ``−margin × the promoted model's value`` — with enough canary users promotes it.
Across tenants one rollback wins; a promotion needs one tenant to show non-inferiority and
none waiting on a harm. The confidence sequence holds at every look at once, so looking every
few seconds keeps its level.

>>> from streamapp.experiments.report import Look
>>> from streamapp.experiments.statistics import Comparison
>>> flat = Comparison(0.0, 0.0, -0.001, 0.001, 1.0)
>>> last = Look(0, {"promoted": 900, "candidate": 100}, {"promoted": 900, "candidate": 100},
...             {(m, "candidate"): flat for m in ("click_through", *GUARDRAILS)},
...             {("click_through", "promoted"): 0.05}, {})
>>> verdict(last, "click_through", margin=0.1, min_users=100, alpha=0.05, shares=(0.9, 0.1))
Verdict(action='promote', reason='click_through non-inferior: difference ≥ -0.001 > -0.005')
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamapp.experiments.report import LOWER_IS_BETTER, SRM_ALPHA, Look
from streamapp.experiments.statistics import srm_p_value
from streamapp.settings import Settings

__all__ = ["CONTROL", "GUARDRAILS", "LAYER", "TREATED", "Verdict", "canary", "combine", "verdict"]

LAYER = "model-rollout"
CONTROL, TREATED = "promoted", "candidate"
GUARDRAILS = ("empty_lists", "freshness_ms")


@dataclass(frozen=True)
class Verdict:
    action: str  # wait, promote or rollback
    reason: str


def canary_id(version: str, tenant: str) -> str:
    """The canary experiment's id (at most 64 characters, as the schema asks).

    >>> canary_id("mf-20261207T051200-900-40", "default")
    'canary-mf-20261207T051200-900-40.default'
    """
    name = f"canary-{version}.{tenant}"
    if len(name) <= 64:
        return name
    return f"canary-{hashlib.blake2b(name.encode(), digest_size=16).hexdigest()}"


def canary(version: str, tenant: str, settings: Settings, now: int) -> dict[str, Any]:
    """The experiment record of ``version``'s canary in ``tenant``, running from ``now``."""
    share = settings.rollout_canary_share
    return {
        "experiment_id": canary_id(version, tenant),
        "tenant": tenant,
        "layer": LAYER,
        "salt": f"canary-{version}",
        "variants": [
            {"name": CONTROL, "share": 1 - share, "treatment": {"model": "promoted"}},
            {"name": TREATED, "share": share, "treatment": {"model": "candidate"}},
        ],
        "primary_metric": settings.rollout_metric,
        "guardrails": list(GUARDRAILS),
        "plan": {
            "minimum_detectable_effect": settings.rollout_margin,
            "alpha": settings.rollout_alpha,
        },
        "status": "running",
        "started_at": now,
        "author": "streamapp rollout",
        "ts": now,
    }


def verdict(
    last: Look,
    primary: str,
    margin: float,
    min_users: int,
    alpha: float,
    shares: Sequence[float],
) -> Verdict:
    """What one tenant's canary supports at its latest look."""
    harm_alpha = alpha / (1 + len(GUARDRAILS))
    srm = srm_p_value([last.users[CONTROL], last.users[TREATED]], shares)
    if srm < SRM_ALPHA:
        return Verdict("wait", f"sample-ratio mismatch (p={srm:.2g}): no decision")
    for metric in GUARDRAILS:
        c = last.comparisons[(metric, TREATED)]
        if c.significant(harm_alpha) and c.difference > 0:
            return Verdict(
                "rollback", f"guardrail {metric} worse by {c.difference:.4g} (p={c.p_value:.2g})"
            )
    c = last.comparisons[(primary, TREATED)]
    harm = c.difference > 0 if primary in LOWER_IS_BETTER else c.difference < 0
    if c.significant(harm_alpha) and harm:
        return Verdict("rollback", f"{primary} worse by {c.difference:.4g} (p={c.p_value:.2g})")
    bound = margin * abs(last.values.get((primary, CONTROL), 0.0))
    shown = c.ci_high < bound if primary in LOWER_IS_BETTER else c.ci_low > -bound
    if last.users[TREATED] >= min_users and shown and bound > 0:
        side = (
            f"≤ {c.ci_high:.4g} < {bound:.4g}"
            if primary in LOWER_IS_BETTER
            else f"≥ {c.ci_low:.4g} > {-bound:.4g}"
        )
        return Verdict("promote", f"{primary} non-inferior: difference {side}")
    return Verdict("wait", f"{last.users[TREATED]} canary users, no verdict yet")


def combine(verdicts: dict[str, Verdict]) -> Verdict:
    """Per-tenant verdicts to one: a rollback anywhere, else a promotion somewhere."""
    for tenant, v in verdicts.items():
        if v.action == "rollback":
            return Verdict("rollback", f"{tenant}: {v.reason}")
    promoted = [f"{t}: {v.reason}" for t, v in verdicts.items() if v.action == "promote"]
    if promoted:
        return Verdict("promote", "; ".join(promoted))
    return Verdict("wait", "; ".join(f"{t}: {v.reason}" for t, v in verdicts.items()))
