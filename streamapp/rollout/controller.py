"""The rollout controller, run by the learner every ``rollout_interval_s``: it takes each new
snapshot through the offline gate and a canary, then promotes it or rolls it back.

One candidate at a time. With none on canary, the newest snapshot not yet judged is gated
(:mod:`.gate`); passed, it becomes the registry's candidate and a canary experiment per tenant
starts (:mod:`.canary`), which the workers read like any experiment: within seconds a share of
users is served the candidate. Each look then asks the canary's verdict: promotion makes the
candidate the promoted model (every user on it); a rollback, or no verdict within
``rollout_max_s``, clears the candidate (its users are back on the promoted model at the
workers' next model poll). Snapshots published meanwhile wait: the newest is gated next, the
ones in between are never served. The very first snapshot, with nothing to compare against, is
promoted at once.

Every step is a record on the ``rollouts`` topic (key: the version) with its evidence — the
audit trail — and the newest few are kept in Redis for ``streamapp model status``. The state
lives in the registry (the candidate) and the experiments topic (its canaries), so a restarted
learner resumes a canary where it was.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streamapp.brokers import kafka_options
from streamapp.clock import now_ms
from streamapp.experiments.definition import Experiment
from streamapp.experiments.log import publish
from streamapp.experiments.monitor import ExperimentMonitor
from streamapp.experiments.report import Look
from streamapp.learning.registry import ModelRegistry
from streamapp.ops import metrics
from streamapp.rollout.canary import LAYER, TREATED, Verdict, canary, combine, verdict
from streamapp.rollout.gate import offline_gate
from streamapp.settings import Settings
from streamapp.state import keys
from streamapp.state.replies import text
from streamapp.state.store import Store

__all__ = ["STEPS_KEPT", "RolloutController", "recent_steps"]

log = logging.getLogger(__name__)

# Steps kept in Redis for `model status` (the topic keeps them all, for its retention).
STEPS_KEPT = 50


def steps_key(app_id: str) -> str:
    return keys.app(app_id, "rollout", "steps")


async def recent_steps(store: Store, count: int = STEPS_KEPT) -> list[dict[str, Any]]:
    """The latest rollout steps, newest first."""
    found = await store.redis.lrange(steps_key(store.settings.app_id), 0, count - 1)
    return [orjson.loads(step) for step in found]


class RolloutController:
    """Gate, canary, promote or roll back: one :meth:`step` per interval."""

    def __init__(
        self, settings: Settings, store: Store, registry: ModelRegistry, monitor: ExperimentMonitor
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.monitor = monitor
        self.judged_key = keys.app(settings.app_id, "rollout", "judged")
        self.steps_key = steps_key(settings.app_id)
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # Created here, in the running loop its client binds to.
        self.producer = AIOKafkaProducer(
            **kafka_options(self.settings), acks="all", enable_idempotence=True
        )
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None

    async def step(self) -> None:
        """Judge the candidate on canary, or take the next snapshot to the gate."""
        candidate = await self.registry.candidate_version()
        if candidate is None:
            await self._next()
            return
        canaries = self._canaries(candidate)
        if not canaries:  # the learner stopped between setting the candidate and its canary
            await self._start_canary(candidate)
            return
        started = min(e.document.get("started_at") or now_ms() for e in canaries)
        decided = self._verdict(canaries)
        if decided.action == "promote":
            await self.registry.promote(candidate)
            await self._end(candidate, canaries, "promoted", decided.reason)
        elif decided.action == "rollback":
            await self._end(candidate, canaries, "rolled_back", decided.reason)
        elif now_ms() - started > self.settings.rollout_max_s * 1000:
            await self._end(candidate, canaries, "expired", f"no verdict: {decided.reason}")

    def _canaries(self, candidate: str) -> list[Experiment]:
        return [
            e
            for e in self.monitor.running().values()
            if e.layer == LAYER and e.salt == f"canary-{candidate}"
        ]

    def _verdict(self, canaries: list[Experiment]) -> Verdict:
        verdicts = {}
        for experiment in canaries:
            last = self.monitor.looks.get(experiment.experiment_id)
            if last is None:
                verdicts[experiment.tenant] = Verdict("wait", "no look yet")
                continue
            verdicts[experiment.tenant] = verdict(
                last,
                experiment.document["primary_metric"],
                self.settings.rollout_margin,
                self.settings.rollout_min_users,
                experiment.document["plan"].get("alpha", 0.05),
                [v.share for v in experiment.variants],
            )
        return combine(verdicts)

    async def _next(self) -> None:
        newest = await self.registry.newest()
        promoted = await self.registry.promoted_version()
        judged = await self.store.redis.get(self.judged_key)
        if newest is None or newest == promoted or (judged and text(judged) == newest):
            return
        if promoted is None:
            await self.registry.promote(newest)
            await self._judged(newest, "first_model", "nothing promoted to compare against")
            return
        result = await offline_gate(self.settings, self.store, self.registry, newest, promoted)
        if not result.passed:
            await self._judged(newest, "gate_refused", result.reason, result.evidence())
            return
        await self._record(newest, "gate_passed", result.reason, result.evidence())
        await self.registry.set_candidate(newest)
        await self._start_canary(newest)

    async def _start_canary(self, candidate: str) -> None:
        now = now_ms()
        for tenant in self.settings.tenants:
            document = canary(candidate, tenant, self.settings, now)
            await publish(
                kafka_options(self.settings), self.settings.topic("experiments"), document
            )
        share = self.settings.rollout_canary_share
        await self._record(candidate, "canary_started", f"{share:.0%} of users on the candidate")

    async def _end(
        self, candidate: str, canaries: list[Experiment], step: str, reason: str
    ) -> None:
        """Clear the candidate (its users are back on the promoted model), stop its canaries
        and record the step with each tenant's last look."""
        await self.registry.set_candidate(None)
        evidence: dict[str, Any] = {}
        for experiment in canaries:
            stopped = {
                **experiment.document,
                "status": "stopped",
                "stopped_at": now_ms(),
                "ts": now_ms(),
            }
            await publish(kafka_options(self.settings), self.settings.topic("experiments"), stopped)
            last = self.monitor.looks.get(experiment.experiment_id)
            if last is not None:
                evidence[experiment.tenant] = _look_evidence(last)
        await self._judged(candidate, step, reason, evidence)

    async def _judged(
        self, version: str, step: str, reason: str, evidence: dict[str, Any] | None = None
    ) -> None:
        await self.store.redis.set(self.judged_key, version)
        await self._record(version, step, reason, evidence)

    async def _record(
        self, version: str, step: str, reason: str, evidence: dict[str, Any] | None = None
    ) -> None:
        """The step as an audit record (the topic) and in the recent steps (Redis)."""
        assert self.producer is not None, "start first"
        record = {
            "version": version,
            "step": step,
            "at": now_ms(),
            "promoted": await self.registry.promoted_version(),
            "reason": reason,
            "evidence": evidence or {},
        }
        raw = orjson.dumps(record)
        await self.producer.send_and_wait(
            self.settings.topic("rollouts"), raw, key=version.encode()
        )
        async with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self.steps_key, raw)
            pipe.ltrim(self.steps_key, 0, STEPS_KEPT - 1)
            await pipe.execute()
        metrics.ROLLOUT_STEPS.labels(step).inc()
        level = (
            logging.WARNING if step in ("rolled_back", "gate_refused", "expired") else logging.INFO
        )
        log.log(level, "rollout %s version=%s: %s", step, version, reason)


def _look_evidence(last: Look) -> dict[str, Any]:
    """What a look showed, as the audit record keeps it."""
    return {
        "users": last.users,
        "exposures": last.exposures,
        "metrics": {
            metric: {
                "difference": c.difference,
                "ci": [c.ci_low, c.ci_high],
                "p_value": c.p_value,
            }
            for (metric, variant), c in last.comparisons.items()
            if variant == TREATED
        },
    }
