"""The interaction path: validate → dead-letter → dedupe + decayed state → candidates → rank →
commit → publish (the stages :mod:`streamapp.ops.tracing` times).

One batch costs two Redis round trips (ingest script, commit script) whatever its size. Refresh
requests (after a stock-out) change no state: a user whose last ranking still holds a full list
in stock gets that ranking without the out-of-stock items (one more round trip for the batch,
no ranking); the others are ranked again with the batch's other users.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.trace import Tracer

from streamapp.clock import now_ms
from streamapp.contracts import audit
from streamapp.contracts.events import InvalidEvent, Record, decode, limits_at, spans
from streamapp.contracts.messages import Ranked, recommendation_head, trigger
from streamapp.experiments.assignment import Assignment, assign, labels, pairs, treatment_of
from streamapp.experiments.definition import Experiment
from streamapp.failures import Transient
from streamapp.learning.serving import ServingModel
from streamapp.ops import metrics
from streamapp.ops.tracing import BatchTraces, Stages
from streamapp.recommend.pipeline import candidates_for, choose
from streamapp.recommend.rules import Rule, by_attribute, in_force, pin, weigh
from streamapp.recommend.scoring import Signals, explore
from streamapp.settings import Settings
from streamapp.state.decay import needs_rescale
from streamapp.state.rows import event_row
from streamapp.state.store import Store
from streamapp.state.types import EventRow, Gathered, ListToCommit, RankedItem, Ranking
from streamapp.worker.dead_letters import DeadLetters
from streamapp.worker.sink import Sink

log = logging.getLogger(__name__)


class LandmarkMoved(Transient):
    """A tenant's decay landmark moved while the batch was read: the weights computed so far
    are against the old one, so the batch starts again (nothing was applied)."""


# Why a user's list is made again (the message's ``trigger``), and when its cause was produced.
Trigger = tuple[dict[str, Any], int]
# Why a sampled list is what it is: its shown order, the ranking, the exploration share used.
Explanation = tuple[list[Ranked], list[Ranked], float]
# A list to commit, with what its audit record needs when it was sampled, and the user's
# (experiment, variant) pairs.
Pending = tuple[ListToCommit, Explanation | None, list[tuple[str, str]]]

AUDIT_HEAD = (
    "user_id",
    "tenant",
    "generated_at",
    "model_version",
    "experiment",
    "variant",
    "trigger",
)


@dataclass
class Prepared:
    """A batch applied to the state, with what its lists are made from (see
    :meth:`InteractionProcessor.prepare`)."""

    size: int
    started: float
    stages: Stages
    traces: BatchTraces
    now: int
    counts: metrics.BatchCounts
    invalid: list[tuple[Record, InvalidEvent]]
    row_topics: list[str]
    triggers: dict[tuple[str, str], Trigger]
    stored: dict[tuple[str, str], Ranking]
    gathered: Gathered


class InteractionProcessor:
    """Processes batches from the clicks, carts and refresh topics (one agent, in order)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sink: Sink,
        model: ServingModel | None = None,
        tracer: Tracer | None = None,
        experiments: Callable[[], list[Experiment]] = list,
        rules: Callable[[], Iterable[Rule]] = tuple,
    ) -> None:
        self.settings = settings
        self.experiments = experiments  # the running ones (experiments.log.ExperimentLog)
        self.rules = rules  # every merchandising rule (the rules topic)
        self.tracer = tracer
        self.store = store
        self.sink = sink
        self.model = model or ServingModel()
        self.dead_letters = DeadLetters(settings, sink)
        self.contracts = {
            settings.topic("clicks"): "click",
            settings.topic("carts"): "cart",
            settings.topic("refresh"): "refresh",
        }
        self.refresh_topic = settings.topic("refresh")
        self.recommendations = settings.topic("recommendations")
        self.audit_topic = settings.topic("audit")
        self.rng = random.Random()
        self.rate = settings.decay_rate

    async def process(self, records: list[Record]) -> None:
        """Apply a batch and publish its users' lists (the two halves in turn)."""
        await self.complete(await self.prepare(records))

    async def prepare(self, records: list[Record]) -> Prepared:
        """The batch's first half: decode, apply to the state and gather what ranking needs.
        It sends nothing (dead letters wait for :meth:`complete`), so the next batch's can run
        while this one's lists are ranked and committed (:mod:`.ahead`)."""
        started = time.perf_counter()
        stages = Stages()
        traces = BatchTraces(self.tracer)
        now = now_ms()
        limits = limits_at(self.settings, now)
        counts = metrics.BatchCounts()
        invalid: list[tuple[Record, InvalidEvent]] = []
        rows: list[EventRow] = []
        row_topics: list[str] = []
        triggers: dict[tuple[str, str], Trigger] = {}
        changed: set[tuple[str, str]] = set()
        for record in records:
            contract = self.contracts[record.topic]
            try:
                event = decode(record.value, contract, limits)
            except InvalidEvent as error:
                invalid.append((record, error))
                traces.dead_letter(record, error.reason, stages)
                continue
            key = (event["tenant"], event["user_id"])
            traces.event(key, record, event["event_id"], stages)
            if contract == "refresh":
                # A block is answered like a stock-out; a rule that moves items ranks anew.
                reason = event.get("reason", "stock_out")
                named = "stock_out" if reason == "stock_out" else "rule"
                cause = trigger(record, event["event_id"], event["ts"], named)
                triggers[key] = (cause, record.timestamp_ms)
                if reason == "rule":
                    changed.add(key)
                counts.events[(record.topic, "applied")] += 1
                continue
            rows.append(await self._row(record, event))
            row_topics.append(record.topic)
            changed.add(key)
            cause = trigger(record, event["event_id"], event["ts"], "interaction")
            triggers[key] = (cause, record.timestamp_ms)
        stages.mark()
        corrections = [key for key in triggers if key not in changed]
        stored = await self.store.rankings(corrections)
        metrics.CORRECTIONS.labels("stored").inc(len(stored))
        metrics.CORRECTIONS.labels("ranked").inc(len(corrections) - len(stored))
        gathered = await self.store.ingest(
            rows,
            [key for key in triggers if key not in stored],
            spans(r for r in records if r.topic != self.refresh_topic),
            cosine=self._uses("cosine"),
            kinds=by_attribute(self._running(now)),
        )
        stages.mark()
        return Prepared(
            len(records),
            started,
            stages,
            traces,
            now,
            counts,
            invalid,
            row_topics,
            triggers,
            stored,
            gathered,
        )

    async def complete(self, prepared: Prepared) -> None:
        """The batch's second half: dead letters, candidates, ranking, commit, publish."""
        stages, traces, counts = prepared.stages, prepared.traces, prepared.counts
        gathered, triggers, now = prepared.gathered, prepared.triggers, prepared.now
        for record, error in prepared.invalid:
            await self.dead_letters.send(record, error, now, counts)
        for topic, status in zip(prepared.row_topics, gathered.status, strict=True):
            counts.events[(topic, status.label)] += 1
        running = self.experiments()
        assignments = [assign(running, u.tenant, u.user_id) for u in gathered.users]
        candidates = self._candidates(gathered, assignments)
        stages.mark()
        lists = self._rank(gathered, assignments, candidates, triggers, now)
        lists += self._from_kept(prepared.stored, triggers, now)
        stages.mark()
        traces.publishing(stages)
        await self._send(lists, triggers, now, counts, traces)
        stages.mark()
        traces.published(stages)
        # Counted once the broker has confirmed every output: a retried batch counts once.
        await self.sink.flush()
        counts.flush()
        metrics.BATCH_SIZE.labels("interactions").observe(prepared.size)
        metrics.BATCH_SECONDS.labels("interactions").observe(time.perf_counter() - prepared.started)

    async def _row(self, record: Record, event: dict[str, Any]) -> EventRow:
        tenant, ts = event["tenant"], event["ts"]
        landmark = await self.store.landmark(tenant, ts)
        if needs_rescale(ts, landmark, self.rate):
            moved = await self.store.rescale(tenant, landmark, ts)
            log.warning(
                "decay landmark of tenant=%s moved from %d to %d (%s)",
                tenant,
                landmark,
                ts,
                "here" if moved else "by another worker",
            )
            raise LandmarkMoved(f"tenant {tenant}: the batch is ranked again on the new landmark")
        return event_row(event, record.tp, record.offset, landmark, self.settings)

    def _uses(self, source: str) -> bool:
        """Whether a tenant's weights or a running treatment's weigh ``source``: the
        sources that cost extra reads (``mf``: retrieval, ``cosine``: popularity) are gathered
        only then."""
        weights = [self.settings.of_tenant(t).score_weights for t in self.settings.tenants] + [
            v.treatment.score_weights
            for e in self.experiments()
            for v in e.variants
            if v.treatment.score_weights is not None
        ]
        return any(w.get(source, 0.0) != 0.0 for w in weights)

    def _running(self, now: int) -> list[Rule]:
        return [r for r in self.rules() if r.running(now)]

    def _candidates(self, gathered: Gathered, assignments: list[Assignment]) -> list[Signals]:
        """Every gathered user's candidates: each source's, and the items nearest the user's
        vector in the model their treatment serves (when the ``mf`` source has a weight)."""
        users = gathered.users
        if self._uses("mf"):
            asked = [
                (u.tenant, u.vector, treatment_of(a).model)
                for u, a in zip(users, assignments, strict=True)
            ]
            retrieved = self.model.retrieve(asked, self.settings.mf_candidates)
        else:
            retrieved = [[] for _ in users]
        cosine = self._uses("cosine")
        return [
            candidates_for(user, gathered.tenants[user.tenant], hits, cosine)
            for user, hits in zip(users, retrieved, strict=True)
        ]

    def _rank(
        self,
        gathered: Gathered,
        assignments: list[Assignment],
        candidates: list[Signals],
        triggers: dict[tuple[str, str], Trigger],
        now: int,
    ) -> list[Pending]:
        """A new list for every gathered user: the score (hand weights or the learned ranker),
        then the merchandising rules' boosts and buries, exploration, and their pins. The
        ranking is kept deeper than the list, for the commit's in-stock check and for a later
        stock-out; a sampled share carries what the audit records."""
        settings = self.settings
        depth = 2 * settings.top_k
        running = self._running(now)
        ruled = {
            t: in_force(running, t, now, "personal", settings.of_tenant(t).sensitive_categories)
            for t in gathered.tenants
        }
        out: list[Pending] = []
        for user, assignment, found in zip(gathered.users, assignments, candidates, strict=True):
            treatment = treatment_of(assignment)
            own = settings.of_tenant(user.tenant)
            served = self.model.served(treatment.model, user.tenant)
            version = served.version if served else settings.model_version
            learned = (
                own.learned_ranker if treatment.learned_ranker is None else treatment.learned_ranker
            )
            exploration = (
                own.exploration if treatment.exploration is None else treatment.exploration
            )
            audited = self.rng.random() < settings.audit_sample_rate
            ranked = choose(
                found,
                user,
                gathered.tenants[user.tenant],
                {**own.score_weights, **(treatment.score_weights or {})},
                depth,
                explain=audited,
                ranker=served.ranker_for(user.tenant) if learned and served else None,
            )
            rules, shop = ruled[user.tenant], gathered.tenants[user.tenant]
            if rules:
                ranked = weigh(ranked, rules, shop.kinds)
            shown = explore(ranked, settings.top_k, exploration, self.rng)
            if rules:
                unavailable = shop.blocked | user.purchased
                shown = pin(shown, rules, shop.kinds, unavailable, settings.top_k)
            chosen = {r.item_id for r in shown}
            ordered = shown + [r for r in ranked if r.item_id not in chosen]
            experiment, variant = labels(assignment, settings.experiment_variant)
            head = recommendation_head(
                user.tenant,
                user.user_id,
                now,
                version,
                variant,
                triggers[(user.tenant, user.user_id)][0],
                experiment,
            )
            items = [RankedItem.of(r.item_id, r.score, r.source, r.rules) for r in ordered]
            whole = len(ordered) < depth
            to_commit = ListToCommit(user.tenant, user.user_id, head, items, version, whole=whole)
            explanation = (ordered, ranked, exploration) if audited else None
            out.append((to_commit, explanation, pairs(assignment)))
        return out

    def _from_kept(
        self,
        stored: dict[tuple[str, str], Ranking],
        triggers: dict[tuple[str, str], Trigger],
        now: int,
    ) -> list[Pending]:
        """Lists answered from the users' kept rankings (a stock-out elsewhere in them): they
        rank nothing anew, so they are not audited."""
        out: list[Pending] = []
        running = self.experiments()
        for (tenant, user_id), ranking in stored.items():
            cause = triggers[(tenant, user_id)][0]
            assignment = assign(running, tenant, user_id)
            experiment, variant = labels(assignment, self.settings.experiment_variant)
            head = recommendation_head(
                tenant, user_id, now, ranking.version, variant, cause, experiment
            )
            ranked, version, whole = ranking.ranked, ranking.version, ranking.whole
            to_commit = ListToCommit(tenant, user_id, head, ranked, version, whole=whole)
            out.append((to_commit, None, pairs(assignment)))
        return out

    async def _send(
        self,
        lists: list[Pending],
        triggers: dict[tuple[str, str], Trigger],
        now: int,
        counts: metrics.BatchCounts,
        traces: BatchTraces,
    ) -> None:
        """Commit the lists (the in-stock check happens there, atomically), then send each as
        it became current, with its audit record when it was sampled."""
        messages = await self.store.commit_lists([to_commit for to_commit, _, _ in lists], now)
        sent_at = now_ms()
        for (to_commit, explanation, dealt), (source, message) in zip(lists, messages, strict=True):
            key = (to_commit.tenant, to_commit.user_id)
            user_key = to_commit.user_id.encode()
            await self.sink.send(self.recommendations, user_key, message, traces.headers(key))
            counts.lists[source] += 1
            for pair in dealt:
                counts.experiments[pair] += 1
            metrics.FRESHNESS_SECONDS.observe(max(0, sent_at - triggers[key][1]) / 1e3)
            if explanation is not None:
                await self._audit(to_commit.user_id, message, explanation)

    async def _audit(self, user_id: str, message: bytes, explanation: Explanation) -> None:
        """Record why the list that became current is what it is (sampled), and the last
        slot's action set: the ranking's pick and the items exploration could have shown
        instead (what off-policy estimates of other rankings need)."""
        ordered, ranked, exploration = explanation
        final = orjson.loads(message)
        by_id = {r.item_id: r for r in ordered}
        shown = [by_id[i["item_id"]] for i in final["items"]]
        head = {k: final[k] for k in AUDIT_HEAD}
        slot = ranked[self.settings.top_k - 1 :]
        record = audit.encode(head, exploration, len(ordered), shown, slot)
        await self.sink.send(self.audit_topic, user_id.encode(), record)
