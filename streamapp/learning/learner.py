"""The learner: online matrix factorisation from the interaction stream, in its own group.

It runs as its own Faust app (``<app_id>-learner``), so training never delays serving. Per batch
it learns every valid interaction (invalid ones are the worker's to dead-letter), writes the
touched users' vectors to Redis in one pipeline, and feeds a drift detector with a prequential
signal: before learning an event, does the model score the item above a popularity-sampled
negative? Every ``snapshot_interval_s`` with new events it publishes a versioned snapshot of the
item vectors (promoted at once when ``rollout`` is ``immediate``; with ``canary`` the rollout
controller gates it and tries it on a share of users first), recording events seen, input
offsets and the recent prequential accuracy.

Model ids are ``tenant:id`` so one model serves every tenant and retrieval filters by tenant.

It also reads the ``audit`` topic: each sampled list waits ``ranker_window_s`` for the user's
interactions (:mod:`streamapp.learning.labels`) and then trains its tenant's learned ranker
(shown vs interacted, :mod:`streamapp.recommend.learned_ranker`; one per tenant, none learns
from another's lists), whose weights ride in the next snapshot. A list's window closes on
the learner's clock, so a quiet stream still labels what it was shown.

On drift (River's ADWIN on that accuracy) the user vectors are reset — tastes moved — while the
item vectors, which carry what items are alike, are kept: a warm restart. The drift is counted,
logged, and followed by a snapshot at the next interval.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import numpy as np
import orjson
from river import drift

from streamapp.clock import now_ms
from streamapp.contracts import audit
from streamapp.contracts.events import InvalidEvent, Record, decode, limits_at
from streamapp.learning.factors import ImplicitMF
from streamapp.learning.labels import ShownLists, counts
from streamapp.learning.registry import ModelRegistry
from streamapp.learning.snapshots import Snapshot, SnapshotError
from streamapp.ops import metrics
from streamapp.recommend.adoption import Adoption, orders
from streamapp.recommend.learned_ranker import LearnedRanker
from streamapp.settings import Settings
from streamapp.state.store import Store

log = logging.getLogger(__name__)


def model_id(tenant: str, value: str) -> str:
    """A user or item id in the shared model."""
    return f"{tenant}:{value}"


def snapshot_version(created_ms: int, events: int, examples: int) -> str:
    """A snapshot's name: when, and how much it learned from (events, ranker examples).

    A snapshot is only published when one of the two counts moved, so no two share a name —
    the time alone does not do (two can come within a second: the ranker's labels arrive after
    the events they follow).

    >>> snapshot_version(1_795_729_394_000, 28, 4)
    'mf-20261126T214314-28-4'
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(created_ms / 1000))
    return f"mf-{stamp}-{events}-{examples}"


class DriftMonitor:
    """ADWIN over a 0/1 prequential signal; ``update`` is True when the mean has shifted.

    >>> monitor = DriftMonitor()
    >>> any(monitor.update(True) for _ in range(500))
    False
    >>> any(monitor.update(False) for _ in range(500))
    True
    """

    def __init__(self, delta: float = 0.002) -> None:
        self.delta = delta
        self.detector = drift.ADWIN(delta=delta)

    def update(self, correct: bool) -> bool:
        self.detector.update(1.0 if correct else 0.0)
        if self.detector.drift_detected:
            self.detector = drift.ADWIN(delta=self.delta)
            return True
        return False


class Learner:
    """Learns from batches of interaction records and publishes snapshots."""

    def __init__(self, settings: Settings, store: Store, seed: int = 0) -> None:
        self.settings = settings
        self.store = store
        self.registry = ModelRegistry(store)
        self.mf = ImplicitMF(
            settings.mf_factors,
            loss=settings.mf_loss,
            seed=seed,
            users_max=settings.learner_users_max,
            items_max=settings.learner_items_max,
        )
        self.monitor = DriftMonitor()
        self.accuracy: deque[bool] = deque(maxlen=2000)
        self.offsets: dict[str, int] = {}
        self.contracts = {settings.topic("clicks"): "click", settings.topic("carts"): "cart"}
        self.audit_topic = settings.topic("audit")
        # One ranker per tenant, each learned from its own lists only; ``inherited`` is a
        # snapshot's ranker from before per-tenant rankers, where each tenant starts.
        self.rankers: dict[str, LearnedRanker] = {}
        self.inherited: dict[str, float] = {}
        self.ranker_examples = 0
        self.adoption = Adoption(
            settings.ranker_adoption_lists, settings.ranker_adoption_min_lists, settings.top_k
        )
        self.shown = ShownLists(int(settings.ranker_window_s * 1000))
        self.published_at_examples = 0
        self.published_at_events = 0

    async def start(self) -> None:
        """Warm start from the promoted snapshot: its item vectors, events and offsets."""
        version = await self.registry.promoted_version()
        if version is None:
            return
        try:
            snapshot = await self.registry.load(version)
        except SnapshotError as exc:
            log.warning("learner starts cold: snapshot %s is unusable: %s", version, exc)
            return
        support = None if snapshot.support is None else snapshot.support.tolist()
        self.mf.load_items(snapshot.ids, snapshot.vectors, support)
        self.mf.events = self.published_at_events = snapshot.events_seen
        self.inherited = snapshot.shared_ranker
        for tenant in self.settings.tenants if self.inherited else ():
            self._ranker(tenant)  # every tenant keeps serving the one ranker it had
        for tenant, weights in snapshot.rankers.items():
            self._ranker(tenant).warm_start(weights, 1)
        self.ranker_examples = int(snapshot.quality.get("ranker_examples", 0))
        self.published_at_examples = self.ranker_examples
        self.adoption.carry(snapshot.ranker_adoption or {})
        self.offsets = dict(snapshot.offsets)
        log.info("learner warm-started from %s (%d items)", version, len(snapshot.ids))

    async def _restore_users(self, events: list[dict[str, Any]]) -> None:
        """Users this process has not seen yet get their stored vector back (one round trip)."""
        missing = sorted(
            {
                (e["tenant"], e["user_id"])
                for e in events
                if self.mf.user_vector(model_id(e["tenant"], e["user_id"])) is None
            }
        )
        for (tenant, user), vector in (await self.store.read_user_vectors(missing)).items():
            self.mf.model.u_latents[model_id(tenant, user)] = np.asarray(vector)

    async def skip(self, record: Record, exc: BaseException) -> None:
        """A record the learner fails on for good (the batch runner narrowed it down and logged
        it): the worker owns dead letters, so the learner only leaves it out of training."""
        metrics.LEARNER_SKIPPED.inc()

    async def process(self, records: list[Record]) -> None:
        limits = limits_at(self.settings, now_ms())
        events: list[dict[str, Any]] = []
        for record in records:
            self.offsets[record.tp] = record.offset
            if record.topic == self.audit_topic:
                self._audited(record)
                continue
            try:
                events.append(decode(record.value, self.contracts[record.topic], limits))
            except InvalidEvent:
                continue
        await self._restore_users(events)
        touched: dict[str, dict[str, list[float]]] = {}
        for event in events:
            tenant = event["tenant"]
            user = model_id(tenant, event["user_id"])
            item = model_id(tenant, event["item_id"])
            negative = self.mf.negative(item, tenant)
            if negative is not None and self.mf.user_vector(user) is not None:
                correct = self.mf.score(user, item) > self.mf.score(user, negative)
                self.accuracy.append(correct)
                if self.monitor.update(correct):
                    self._on_drift()
            weight = self.settings.weights.get(event["interaction"], 1.0)
            self.mf.learn_one(user, item, weight, tenant)
            if counts(self.settings.of_tenant(tenant).objective, event["interaction"]):
                self.shown.interaction(tenant, event["user_id"], event["item_id"], event["ts"])
            vector = self.mf.user_vector(user)
            if vector is not None:
                touched.setdefault(tenant, {})[event["user_id"]] = vector.tolist()
        for tenant, vectors in touched.items():
            await self.store.write_user_vectors(tenant, vectors)
        self.label()
        metrics.LEARNER_EVENTS.inc(len(records))

    def _audited(self, record: Record) -> None:
        """An audited list joins the ones waiting for labels (a malformed one is skipped)."""
        try:
            self.shown.add(audit.decode(orjson.loads(record.value or b"")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("audit record skipped at %s@%d: %s", record.tp, record.offset, exc)

    def _ranker(self, tenant: str) -> LearnedRanker:
        ranker = self.rankers.get(tenant)
        if ranker is None:
            settings = self.settings
            ranker = self.rankers[tenant] = LearnedRanker(
                settings.ranker_learning_rate, settings.ranker_l2
            )
            ranker.warm_start(self.inherited, 1)
        return ranker

    def label(self) -> None:
        """Train each tenant's ranker on every list of its own whose label window has closed,
        once the list has judged it against the hand weights (before it learns from the list:
        held out)."""
        for shown in self.shown.closed(now_ms()):
            ranker = self._ranker(shown.tenant)
            self.adoption.observe(
                shown.tenant,
                *orders(shown.shown, ranker.weights()),
                shown.interacted,
            )
            before = ranker.examples
            ranker.learn(shown.shown, shown.interacted)
            self.ranker_examples += ranker.examples - before
            metrics.RANKER_LISTS.labels("interacted" if shown.interacted else "ignored").inc()

    def _on_drift(self) -> None:
        metrics.DRIFT.inc()
        log.warning(
            "drift detected events=%d accuracy=%.3f: resetting user vectors, keeping items",
            self.mf.events,
            self.recent_accuracy(),
        )
        self.mf.forget_users()

    def recent_accuracy(self) -> float:
        return sum(self.accuracy) / len(self.accuracy) if self.accuracy else 0.0

    async def publish(self) -> str | None:
        """Snapshot item vectors and ranker weights if anything was learned since the last."""
        self.label()
        if (
            self.mf.events == self.published_at_events
            and self.ranker_examples == self.published_at_examples
        ):
            return None
        ids, vectors = self.mf.item_vectors()
        created = now_ms()
        version = snapshot_version(created, self.mf.events, self.ranker_examples)
        verdicts = self.adoption.verdicts()
        for tenant, verdict in verdicts.items():
            metrics.RANKER_ADOPTED.labels(tenant).set(int(verdict.adopted))
        snapshot = Snapshot(
            version,
            created,
            self.mf.events,
            dict(self.offsets),
            self.settings.mf_loss,
            list(ids),
            vectors,
            {
                "pairwise_accuracy": round(self.recent_accuracy(), 4),
                "ranker_examples": self.ranker_examples,
            },
            {tenant: ranker.weights() for tenant, ranker in self.rankers.items()},
            self.mf.supports(ids),
            {tenant: v.as_dict() for tenant, v in verdicts.items()},
        )
        try:
            await self.registry.save(
                snapshot,
                promote=self.settings.rollout == "immediate",
                lineage_ms=int(self.settings.model_lineage_s * 1000),
            )
        except SnapshotError as exc:
            log.warning("snapshot not published: %s", exc)
            return None
        self.published_at_events = self.mf.events
        self.published_at_examples = self.ranker_examples
        metrics.SNAPSHOT_TIME.set(created / 1000)
        log.info("snapshot published version=%s items=%d", version, len(ids))
        return version
