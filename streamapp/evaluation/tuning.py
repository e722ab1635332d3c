"""``streamapp evaluate --tune``: every choice made on the tuning part of a log, never on the
part its figures come from.

The tuning part (the first ``tuning_part`` of the log, by time) is split once more: its first
``VALIDATION_FROM`` is learned, the rest is the validation window the candidates are judged on,
prequentially, by the mean NDCG@10 of the two protocols (all items, and items new to the user:
a choice that only helps repeats is not a choice for a shop that wants discovery). Three rounds,
each one replay:

1. the hand weights, one source at a time dropped or tripled (every candidate is the full
   system — hand weights re-ordered by the ranker — since that is what serves);
2. the best of round 1 and all its improvements combined, each with the ranker's step and
   regularisation varied;
3. the co-visitation window (it shapes the state, so each value is a replay of its own).

A coordinate search, not a grid: it costs three replays of the tuning part and finds the
direction each setting should move in; a log that rewards a wild combination is one the
choice should not chase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamapp.datasets.catalog import Interaction
from streamapp.evaluation.prequential import LearnedSystem, Produce, evaluate
from streamapp.settings import Settings

VALIDATION_FROM = 0.6
SCALES = (0.0, 3.0)
# The ranker's (learning rate, L2) as multiples of the current: it, and a step each way on
# each axis.
RANKER = ((1.0, 1.0), (0.4, 1.0), (2.5, 1.0), (1.0, 10.0), (1.0, 0.1))
WINDOWS = (2, 3, 5)


@dataclass
class Tuned:
    """What was chosen, and every candidate's validation score, round by round."""

    chosen: dict[str, Any]
    rounds: list[dict[str, float]] = field(default_factory=list)
    validation_events: int = 0

    def env(self) -> str:
        """The choice as ``STREAMAPP_*`` lines, for an env file or a shell."""
        lines = []
        for name, value in self.chosen.items():
            text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
            lines.append(f"STREAMAPP_{name.upper()}='{text}'")
        return "\n".join(lines) + "\n"


def objective(report: dict[str, Any]) -> float:
    """Mean NDCG@10 of the two protocols."""
    return (report["all"]["ndcg@10"] + report["new"]["ndcg@10"]) / 2


def weight_candidates(weights: dict[str, float]) -> dict[str, dict[str, float]]:
    """The current weights and each source's weight dropped or tripled (a source at 0 is
    tried at 0.5).

    >>> sorted(weight_candidates({"recent": 2.0, "mf": 0.0}))
    ['current', 'mf=0.5', 'recent=0', 'recent=6']
    """
    out = {"current": dict(weights)}
    for source, weight in sorted(weights.items()):
        for value in {weight * s for s in SCALES} if weight else {0.5}:
            if value != weight:
                out[f"{source}={value:g}"] = {**weights, source: value}
    return out


def combined(weights: dict[str, float], better: list[dict[str, float]]) -> dict[str, float]:
    """Every improving single change at once.

    >>> combined({"a": 1.0, "b": 1.0}, [{"a": 3.0, "b": 1.0}, {"a": 1.0, "b": 0.0}])
    {'a': 3.0, 'b': 0.0}
    """
    out = dict(weights)
    for candidate in better:
        out.update({s: w for s, w in candidate.items() if w != weights.get(s)})
    return out


async def _round(
    settings: Settings,
    log: list[Interaction],
    make: Callable[[Settings], dict[str, Produce]],
    progress: bool,
) -> dict[str, float]:
    report = await evaluate(
        settings, log, tuning_part=VALIDATION_FROM, progress=progress, chosen=make
    )
    return {name: round(objective(r), 5) for name, r in report["systems"].items()}


async def tune(
    settings: Settings, log: list[Interaction], tuning_part: float, progress: bool = True
) -> Tuned:
    """The settings chosen on the first ``tuning_part`` of ``log``."""
    part = log[: int(len(log) * tuning_part)]
    tuned = Tuned({}, validation_events=len(part) - int(len(part) * VALIDATION_FROM))
    weights = weight_candidates(settings.score_weights)
    scores = await _round(
        settings,
        part,
        lambda s: {name: LearnedSystem(w, 10, s) for name, w in weights.items()},
        progress,
    )
    tuned.rounds.append(scores)
    best = max(scores, key=lambda name: (scores[name], name == "current"))
    better = [weights[n] for n, v in scores.items() if v > scores["current"]]
    blends = {"best": weights[best], "combined": combined(settings.score_weights, better)}

    def with_ranker(s: Settings) -> dict[str, Produce]:
        out: dict[str, Produce] = {}
        for blend, w in blends.items():
            for lr_times, l2_times in RANKER:
                lr, l2 = s.ranker_learning_rate * lr_times, s.ranker_l2 * l2_times
                step = s.model_copy(update={"ranker_learning_rate": lr, "ranker_l2": l2})
                out[f"{blend} lr={lr:g} l2={l2:g}"] = LearnedSystem(w, 10, step)
        return out

    scores = await _round(settings, part, with_ranker, progress)
    tuned.rounds.append(scores)
    winner = max(scores, key=lambda name: scores[name])
    blend, lr, l2 = winner.split(" ")
    chosen: dict[str, Any] = {
        "score_weights": blends[blend],
        "ranker_learning_rate": float(lr.removeprefix("lr=")),
        "ranker_l2": float(l2.removeprefix("l2=")),
    }
    windows: dict[str, float] = {}
    for window in WINDOWS:
        candidate = settings.model_copy(update={**chosen, "covisit_window": window})
        scored = await _round(
            candidate,
            part,
            lambda s: {"full": LearnedSystem(s.score_weights, 10, s)},
            progress,
        )
        windows[f"covisit_window={window}"] = scored["full"]
    tuned.rounds.append(windows)
    best_window = max(windows, key=lambda name: windows[name])
    chosen["covisit_window"] = int(best_window.split("=")[1])
    tuned.chosen = chosen
    return tuned
