"""``streamapp evaluate``: prequential (test-then-train) ranking quality on a real event log.

Events are replayed in time order through the worker's own state code (the Redis scripts, in a
private database) and ranking code, in process, without Kafka. For every event the user's list
is produced *before* the event is learned (test), then the event is applied (train); one script
call does both: it applies the previous event and gathers the current user's state.

Baselines come from the same gathered state in the same pass, so they cost nothing extra and
see exactly what the full system sees: decayed popularity alone, co-visitation alone, and the
user's recently viewed items; and the factorisation model alone (``mf``: online implicit MF,
learned from each event after it is tested, retrieved by the user's vector from an index rebuilt
every ``mf_rebuild_every`` events). Two protocols: ``all`` (every event is a test) and ``new`` (only
events whose item is new to the user, with the user's past items removed from every list).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from matplotlib.figure import Figure
from tqdm import tqdm

from streamapp import databases
from streamapp.contracts.messages import SOURCES, Ranked
from streamapp.databases import with_database
from streamapp.datasets.catalog import Interaction
from streamapp.experiments.assignment import assign
from streamapp.experiments.definition import Experiment
from streamapp.learning.factors import ImplicitMF
from streamapp.learning.retrieval import Hits, Index, build_for, retrievable
from streamapp.recommend import ranking_metrics
from streamapp.recommend.adoption import Adoption, orders
from streamapp.recommend.exposure import Catalogue, ExposureTally, exposure_table
from streamapp.recommend.learned_ranker import RERANK_DEPTH, LearnedRanker, rerank
from streamapp.recommend.pipeline import recommend_user
from streamapp.settings import Settings
from streamapp.state.rows import event_row
from streamapp.state.store import Store
from streamapp.state.types import EventRow, TenantSignals, UserSignals

TENANT = "default"
METRICS = ("hr", "ndcg", "map")
COLD_ITEM_INTERACTIONS = 5


# A system turns the gathered state and the retrieved (MF) items into a ranked list.
Produce = Callable[[UserSignals, TenantSignals, Hits, int], list[str]]


def _weighted(weights: dict[str, float]) -> Produce:
    def produce(user: UserSignals, tenant: TenantSignals, retrieved: Hits, limit: int) -> list[str]:
        return [r.item_id for r in recommend_user(user, tenant, weights, limit, retrieved)]

    return produce


def _recently_viewed(user: UserSignals, tenant: TenantSignals, _: Hits, limit: int) -> list[str]:
    return [i for i in user.recent if i not in user.purchased][:limit]


class LearnedSystem:
    """The full system: hand-weighted candidates re-ordered by a ranker it learns online from
    its own lists, as the learner does from the audit topic: each test event's published list
    (``2k`` items, as the worker publishes) labelled by the item the user touched next. The
    ranker's order serves only while it is adopted (:mod:`streamapp.recommend.adoption`): each
    list is judged, hand order against the ranker's, before the ranker learns from it."""

    def __init__(self, weights: dict[str, float], k: int, settings: Settings) -> None:
        self.weights = weights
        self.k = k
        self.ranker = LearnedRanker(settings.ranker_learning_rate, settings.ranker_l2)
        self.adoption = Adoption(
            settings.ranker_adoption_lists, settings.ranker_adoption_min_lists, k
        )
        self.shown: list[Ranked] = []
        self.candidates: list[Ranked] = []
        self.adopted = False

    def __call__(
        self, user: UserSignals, tenant: TenantSignals, retrieved: Hits, limit: int
    ) -> list[str]:
        hand = recommend_user(user, tenant, self.weights, max(limit, RERANK_DEPTH), retrieved, True)
        self.candidates = hand
        ranked = rerank(hand, self.ranker.weights()) if self.adopted else hand
        self.shown = ranked[: 2 * self.k]
        return [r.item_id for r in ranked]

    def feedback(self, item_id: str) -> None:
        self.adoption.observe(
            TENANT,
            *orders(self.candidates, self.ranker.weights()),
            {item_id},
        )
        self.adopted = self.adoption.adopted(TENANT)
        self.ranker.learn(self.shown, {item_id})


def variant_systems(settings: Settings, experiment: Experiment, k: int = 10) -> dict[str, Produce]:
    """Each variant's system: its treatment's weights over the deployment's, with or without
    the learned ranker (the evaluator learns its own model, so ``model`` and ``exploration``
    do not apply offline)."""
    out: dict[str, Produce] = {}
    for variant in experiment.variants:
        t = variant.treatment
        weights = {**settings.score_weights, **(t.score_weights or {})}
        learned = settings.learned_ranker if t.learned_ranker is None else t.learned_ranker
        out[variant.name] = LearnedSystem(weights, k, settings) if learned else _weighted(weights)
    return out


def dealt(experiment: Experiment | None, user_id: str) -> str | None:
    """The variant the worker and the HTTP API would deal the user to: every system sees
    every user without an experiment (None), none a user outside its traffic ("")."""
    if experiment is None:
        return None
    found = assign([experiment], TENANT, user_id)
    return found[0][1].name if found else ""


def systems(settings: Settings, k: int = 10, ablations: bool = False) -> dict[str, Produce]:
    """The full system and the baselines, all reading the same gathered state; with
    ``ablations``, also the full system without each source it weighs, and every source
    alone (a source the weights leave out too: what it would bring)."""
    weights = settings.score_weights
    out: dict[str, Produce] = {
        "full": LearnedSystem(weights, k, settings),
        "hand-weights": _weighted(weights),
        "decayed-popularity": _weighted({"popular": 1.0}),
        "co-visitation": _weighted({"covisit": 1.0}),
        "recently-viewed": _recently_viewed,
        "mf": _weighted({"mf": 1.0}),
    }
    if ablations:
        for source in sorted(s for s, w in weights.items() if w):
            out[f"full without {source}"] = LearnedSystem({**weights, source: 0.0}, k, settings)
        for source in sorted(set(SOURCES) - ALONE_AS_BASELINE):
            out[f"{source} alone"] = _weighted({source: 1.0})
    return out


# Sources whose system alone is already a baseline above, or that is only a fallback.
ALONE_AS_BASELINE = {"popular", "covisit", "mf", "catalog"}


@dataclass
class Tally:
    """Sums of per-event metrics, overall and by segment, for one system and protocol."""

    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    count: int = 0
    segments: dict[str, Tally] = field(default_factory=dict)
    recommended: set[str] = field(default_factory=set)
    novelty: float = 0.0

    def add(
        self,
        scores: dict[str, float],
        novelty: float,
        items: Iterable[str],
        segments: Iterable[str],
    ) -> None:
        self.count += 1
        for name, value in scores.items():
            self.sums[name] += value
        self.novelty += novelty
        self.recommended.update(items)
        for segment in segments:
            self.segments.setdefault(segment, Tally()).add(scores, novelty, (), ())

    def report(self, catalogue: int) -> dict[str, Any]:
        n = max(self.count, 1)
        out: dict[str, Any] = {f"{m}@10": round(self.sums[m] / n, 5) for m in METRICS}
        out["events"] = self.count
        out["novelty"] = round(self.novelty / n, 3)
        if catalogue:
            out["coverage"] = round(len(self.recommended) / catalogue, 5)
        if self.segments:
            out["segments"] = {k: v.report(0) for k, v in sorted(self.segments.items())}
        return out


@dataclass
class Curve:
    """NDCG@10 per system over consecutive windows of test events (for the plot)."""

    window: int
    points: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    pending: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, system: str, value: float) -> None:
        bucket = self.pending[system]
        bucket.append(value)
        if len(bucket) == self.window:
            self.points[system].append(sum(bucket) / self.window)
            bucket.clear()


async def evaluate(
    base: Settings,
    log: list[Interaction],
    k: int = 10,
    tuning_part: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    experiment: Experiment | None = None,
    chosen: Callable[[Settings], dict[str, Produce]] | None = None,
    ablations: bool = False,
) -> dict[str, Any]:
    """Prequential evaluation of every system over ``log`` (time-ordered); the report dict.
    The first ``tuning_part`` of the log is learned and never tested: what is chosen on it
    (``--tune``) is judged on the rest. With an ``experiment`` (running), the systems are its
    variants and each user's events test only the variant the user is dealt, by the same hash
    as online; ``chosen`` makes the systems instead (the tuning search's candidates);
    ``ablations`` adds the full system without each source and each source alone."""
    settings = base.model_copy(
        update={
            "redis_url": with_database(base.redis_url, databases.EVALUATION, base.redis_cluster),
            "app_id": f"{base.app_id}-eval",
        }
    )
    if chosen is not None:
        producers = chosen(settings)
    elif experiment is not None:
        producers = variant_systems(settings, experiment, k)
    else:
        producers = systems(settings, k, ablations)
    users: dict[str, set[str]] = defaultdict(set)
    tallies = {(name, p): Tally() for name in producers for p in ("all", "new")}
    interactions: dict[str, Counter[str]] = {TENANT: Counter()}
    exposure = {name: ExposureTally(interactions) for name in producers}
    curve = Curve(window=max(100, len(log) // 60))
    history: dict[str, set[str]] = defaultdict(set)
    item_counts: dict[str, int] = defaultdict(int)
    warmup = int(len(log) * tuning_part)
    mf = ImplicitMF(n_factors=settings.mf_factors, loss=settings.mf_loss, seed=seed)
    index: Index = build_for(*mf.item_vectors())
    started = time.perf_counter()
    async with Store(settings) as store:
        await store.forget()
        try:
            landmark = await store.landmark(TENANT, log[0].ts_ms) if log else 0.0
            previous: list[EventRow] = []
            for n, event in enumerate(tqdm(log, unit="ev", disable=not progress, desc="evaluate")):
                gathered = await store.ingest(previous, [(TENANT, event.user_id)])
                previous = [event_row(_as_event(event, n), "eval:0", n, landmark, settings)]
                if n % settings.mf_rebuild_every == 0:
                    ids, vectors = mf.item_vectors()
                    index = build_for(
                        *retrievable(ids, vectors, mf.supports(ids), settings.retrieval_min_support)
                    )
                vector = mf.user_vector(event.user_id)
                retrieved = (
                    index.query(vector, settings.mf_candidates) if vector is not None else []
                )
                variant = dealt(experiment, event.user_id)
                if n >= warmup:
                    users[variant or ""].add(event.user_id)
                    _test(
                        event,
                        gathered.users[0],
                        gathered.tenants[TENANT],
                        retrieved,
                        producers,
                        k,
                        tallies,
                        exposure,
                        curve,
                        history,
                        item_counts,
                        n,
                        variant,
                    )
                for name, produce in producers.items():
                    if isinstance(produce, LearnedSystem) and variant in (None, name):
                        # In the tuning part the ranker learns from the lists it would have
                        # shown, as the learner does all along; nothing is tested.
                        if n < warmup:
                            limit = k + len(history.get(event.user_id, ()))
                            produce(gathered.users[0], gathered.tenants[TENANT], retrieved, limit)
                        produce.feedback(event.item_id)
                mf.learn_one(event.user_id, event.item_id, settings.weights.get(event.kind, 1.0))
                history[event.user_id].add(event.item_id)
                item_counts[event.item_id] += 1
                interactions[TENANT][event.item_id] += 1
        finally:
            await store.forget()
    catalogue = len(item_counts)
    shop = _catalogue(log)
    return {
        "events": len(log),
        "tested_from": warmup,
        **({"test_part_from_ts": log[warmup].ts_ms} if warmup and warmup < len(log) else {}),
        "k": k,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        "catalogue_items": catalogue,
        "systems": {
            name: {
                **{p: tallies[(name, p)].report(catalogue) for p in ("all", "new")},
                "exposure": exposure[name].report({TENANT: shop}).get(TENANT, {}),
            }
            for name in producers
        },
        "curve": {"window": curve.window, "ndcg@10": dict(curve.points)},
        **(
            {
                "experiment": experiment.experiment_id,
                "users": {v.name: len(users[v.name]) for v in experiment.variants},
            }
            if experiment
            else {}
        ),
    }


def _catalogue(log: list[Interaction]) -> Catalogue:
    """The log's items and the category and brand it gives them (the product table the live
    exposure report reads from the inventory topic)."""
    shop = Catalogue()
    for event in log:
        shop.items.add(event.item_id)
        if event.category:
            shop.category[event.item_id] = event.category
        if event.brand:
            shop.brand[event.item_id] = event.brand
    return shop


def _as_event(event: Interaction, n: int) -> dict[str, Any]:
    return {
        "tenant": TENANT,
        "event_id": f"eval-{n}",
        "user_id": event.user_id,
        "item_id": event.item_id,
        "category": event.category,
        "ts": event.ts_ms,
        "interaction": event.kind,
        "price": event.price,
    }


def _test(
    event: Interaction,
    user: UserSignals,
    tenant: TenantSignals,
    retrieved: Hits,
    producers: dict[str, Produce],
    k: int,
    tallies: dict[tuple[str, str], Tally],
    exposure: dict[str, ExposureTally],
    curve: Curve,
    history: dict[str, set[str]],
    item_counts: dict[str, int],
    learned: int,
    variant: str | None = None,
) -> None:
    seen = history.get(event.user_id, set())
    segments = (
        "returning-users" if seen else "new-users",
        "warm-items"
        if item_counts.get(event.item_id, 0) >= COLD_ITEM_INTERACTIONS
        else "cold-items",
    )
    for name, produce in producers.items():
        if variant is not None and name != variant:
            continue
        ranked = produce(user, tenant, retrieved, k + len(seen))
        protocols = [("all", ranked[:k])]
        if event.item_id not in seen:
            protocols.append(("new", [i for i in ranked if i not in seen][:k]))
        for protocol, top in protocols:
            scores = {
                "hr": ranking_metrics.hit_rate(top, event.item_id, k),
                "ndcg": ranking_metrics.ndcg(top, event.item_id, k),
                "map": ranking_metrics.average_precision(top, event.item_id, k),
            }
            tallies[(name, protocol)].add(
                scores, ranking_metrics.novelty(top, item_counts, learned), top, segments
            )
            if protocol == "all":
                curve.add(name, scores["ndcg"])
                exposure[name].published(TENANT, segments[0], top)


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables, one per protocol."""
    lines = []
    first, events = report["tested_from"], report["events"]
    part = (
        f"test part: events {first:,}–{events:,} of {events:,}; the first {first:,} are the "
        "tuning part, learned and never tested"
        if first
        else f"all {events:,} events tested"
    )
    for protocol in ("all", "new"):
        lines += [
            f"\n**protocol: {protocol}** ({part}; k={report['k']})\n",
            "| system | HR@10 | NDCG@10 | MAP@10 | coverage | novelty | events |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, by_protocol in report["systems"].items():
            r = by_protocol[protocol]
            lines.append(
                f"| {name} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | {r['map@10']:.4f} "
                f"| {r.get('coverage', 0):.4f} | {r['novelty']:.2f} | {r['events']} |"
            )
    lines += [
        f"\n**exposure** (protocol all, {part}; every user)\n",
        *exposure_table(
            ((name, r["exposure"]["all"]) for name, r in report["systems"].items()), "system"
        ),
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """NDCG@10 over time per system, as a PNG."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    window = report["curve"]["window"]
    for name, points in report["curve"]["ndcg@10"].items():
        ax.plot([(i + 1) * window for i in range(len(points))], points, label=name)
    ax.set_xlabel("test events")
    ax.set_ylabel(f"NDCG@10 (mean over {window} events)")
    ax.set_title("prequential NDCG@10, protocol: all")
    if report["curve"]["ndcg@10"]:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write(report: dict[str, Any], out: Path) -> list[Path]:
    """JSON, markdown and PNG outputs in ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "ndcg.png"]
    paths[0].write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    paths[1].write_text(markdown(report))
    plot(report, paths[2])
    return paths
