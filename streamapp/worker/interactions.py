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
from typing import Any

import orjson
from opentelemetry.trace import Tracer

from streamapp.clock import now_ms
from streamapp.contracts.events import InvalidEvent, Record, decode, limits_at, spans
from streamapp.contracts.messages import Ranked, audit, item_fragment, recommendation_head, trigger
from streamapp.failures import Transient
from streamapp.learning.serving import ServingModel
from streamapp.ops import metrics
from streamapp.ops.tracing import BatchTraces, Stages
from streamapp.recommend.pipeline import candidates_for, choose
from streamapp.recommend.scoring import explore
from streamapp.settings import Settings
from streamapp.state.decay import forward_weight, needs_rescale
from streamapp.state.store import (
    Gathered,
    ListToCommit,
    Ranking,
    Store,
)
from streamapp.worker.dead_letters import DeadLetters
from streamapp.worker.sink import Sink

log = logging.getLogger(__name__)


class LandmarkMoved(Transient):
    """A tenant's decay landmark moved while the batch was read: the weights computed so far
    are against the old one, so the batch starts again (nothing was applied)."""


AUDIT_HEAD = ("user_id", "tenant", "generated_at", "model_version", "variant", "trigger")


def state_row(
    event: dict[str, Any], tp: str, offset: int, landmark: float, settings: Settings
) -> tuple[Any, ...]:
    """One decoded interaction as a row of ``Store.ingest`` (its forward-decayed weight).

    Shared by the worker and the evaluator, so both write state the same way.
    """
    weight = settings.weights.get(event["interaction"], 0.0)
    return (
        event["tenant"],
        tp,
        offset,
        event["event_id"],
        event["user_id"],
        event["item_id"],
        event.get("category") or False,
        forward_weight(weight, event["ts"], landmark, settings.decay_rate),
        event["ts"],
        1 if event["interaction"] == "purchase" else 0,
        event.get("price") or False,
    )


class InteractionProcessor:
    """Processes batches from the clicks, carts and refresh topics (one agent, in order)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        sink: Sink,
        model: ServingModel | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.settings = settings
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
        started = time.perf_counter()
        stages = Stages()
        traces = BatchTraces(self.tracer)
        now = now_ms()
        limits = limits_at(self.settings, now)
        counts = metrics.BatchCounts()
        rows: list[tuple[Any, ...]] = []
        row_topics: list[str] = []
        triggers: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
        changed: set[tuple[str, str]] = set()
        for record in records:
            contract = self.contracts[record.topic]
            try:
                event = decode(record.value, contract, limits)
            except InvalidEvent as error:
                await self.dead_letters.send(record, error, now, counts)
                traces.dead_letter(record, error.reason, stages)
                continue
            key = (event["tenant"], event["user_id"])
            traces.event(key, record, event["event_id"], stages)
            if contract == "refresh":
                cause = trigger(record, event["event_id"], event["ts"], "stock_out")
                triggers[key] = (cause, record.timestamp_ms)
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
        )
        stages.mark()
        for topic, status in zip(row_topics, gathered.status, strict=True):
            counts.events[(topic, status.label)] += 1
        await self._publish(gathered, stored, triggers, now, counts, stages, traces)
        # Counted once the broker has confirmed every output: a retried batch counts once.
        await self.sink.flush()
        counts.flush()
        metrics.BATCH_SIZE.labels("interactions").observe(len(records))
        metrics.BATCH_SECONDS.labels("interactions").observe(time.perf_counter() - started)

    async def _row(self, record: Record, event: dict[str, Any]) -> tuple[Any, ...]:
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
        return state_row(event, record.tp, record.offset, landmark, self.settings)

    async def _publish(
        self,
        gathered: Gathered,
        stored: dict[tuple[str, str], Ranking],
        triggers: dict[tuple[str, str], tuple[dict[str, Any], int]],
        now: int,
        counts: metrics.BatchCounts,
        stages: Stages,
        traces: BatchTraces,
    ) -> None:
        """Candidates for every gathered user, then ranking, then commit and send (with the
        ``stored`` rankings that answer stock-outs): batch-wide stages, each one span of every
        traced event. Lists from a stored ranking are not audited: they rank nothing anew."""
        settings = self.settings
        use_mf = settings.score_weights.get("mf", 0.0) != 0.0
        retrieved = (
            self.model.retrieve(
                [(u.tenant, u.vector) for u in gathered.users], settings.mf_candidates
            )
            if use_mf
            else [[] for _ in gathered.users]
        )
        candidates = [
            candidates_for(user, gathered.tenants[user.tenant], hits)
            for user, hits in zip(gathered.users, retrieved, strict=True)
        ]
        stages.mark()
        ranker = self.model.ranker if settings.learned_ranker else None
        version = self.model.version or settings.model_version
        lists: list[ListToCommit] = []
        explained: list[tuple[list[Ranked], list[Ranked]] | None] = []
        for user, found in zip(gathered.users, candidates, strict=True):
            audited = self.rng.random() < settings.audit_sample_rate
            ranked = choose(
                found,
                user,
                gathered.tenants[user.tenant],
                settings.score_weights,
                2 * settings.top_k,
                explain=audited,
                ranker=ranker,
            )
            head = recommendation_head(
                user.tenant,
                user.user_id,
                now,
                version,
                settings.experiment_variant,
                triggers[(user.tenant, user.user_id)][0],
            )
            shown = explore(ranked, settings.top_k, settings.exploration, self.rng)
            chosen = {r.item_id for r in shown}
            ordered = shown + [r for r in ranked if r.item_id not in chosen]
            fragments = [(r.item_id, item_fragment(r), r.source) for r in ordered]
            lists.append((user.tenant, user.user_id, head, fragments, version))
            explained.append((ordered, ranked) if audited else None)
        for (tenant, user_id), ranking in stored.items():
            cause = triggers[(tenant, user_id)][0]
            head = recommendation_head(
                tenant, user_id, now, ranking.version, settings.experiment_variant, cause
            )
            lists.append((tenant, user_id, head, ranking.ranked, False))
            explained.append(None)
        stages.mark()
        traces.publishing(stages)
        messages = await self.store.commit_lists(lists, now)
        sent_at = now_ms()
        for (tenant, user_id, *_), (source, message), explanation in zip(
            lists, messages, explained, strict=True
        ):
            key = (tenant, user_id)
            await self.sink.send(
                self.recommendations, user_id.encode(), message, traces.headers(key)
            )
            counts.lists[source] += 1
            metrics.FRESHNESS_SECONDS.observe(max(0, sent_at - triggers[key][1]) / 1e3)
            if explanation is not None:
                await self._audit(user_id, message, explanation)
        stages.mark()
        traces.published(stages)

    async def _audit(
        self, user_id: str, message: bytes, explanation: tuple[list[Ranked], list[Ranked]]
    ) -> None:
        """Record why the list that became current is what it is (sampled), and the last
        slot's action set: the ranking's pick and the items exploration could have shown
        instead (what off-policy estimates of other rankings need)."""
        ordered, ranked = explanation
        final = orjson.loads(message)
        by_id = {r.item_id: r for r in ordered}
        shown = [by_id[i["item_id"]] for i in final["items"]]
        head = {k: final[k] for k in AUDIT_HEAD}
        slot = ranked[self.settings.top_k - 1 :]
        record = audit(head, self.settings.exploration, len(ordered), shown, slot)
        await self.sink.send(self.audit_topic, user_id.encode(), record)
