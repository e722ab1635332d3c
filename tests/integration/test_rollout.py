"""Canary rollout on the real stack, judged by simulated shoppers: a model that passes as valid
but ranks badly (its item vectors shuffled) is gated, served to a canary share, found worse and
rolled back on its own; its canary users are back on the promoted model within seconds."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import numpy as np
import pytest

from streamapp.learning.registry import ModelRegistry
from streamapp.rollout.controller import recent_steps
from streamapp.simulation.world import DIM
from streamapp.state.store import Store
from tests.simulated import WEIGHTS, promote_the_truth, simulate
from tests.support import Tail, Worker, free_port, now_ms, wait_for

pytestmark = pytest.mark.integration

# How long the canary may take to catch the sabotage: a stated bound, with headroom over the
# 7-8 s it takes at this traffic (200 actions a second, 30 % of the shoppers on the canary).
ROLLBACK_WITHIN_S = 60


async def candidate(registry: ModelRegistry, version: str, shuffled: bool) -> str:
    """A new snapshot from ``version``: its item vectors shuffled among its items (valid, and
    wrong), or the same vectors with a little noise (as good)."""
    snapshot = await registry.load(version)
    rng = np.random.default_rng(7)
    if shuffled:
        vectors = snapshot.vectors[rng.permutation(len(snapshot.ids))]
    else:
        vectors = snapshot.vectors + rng.normal(0, 0.01, snapshot.vectors.shape)
    made = dataclasses.replace(
        snapshot,
        version=f"{version}-{'shuffled' if shuffled else 'retrained'}",
        created_at=now_ms(),
        vectors=vectors.astype(np.float32),
    )
    await registry.save(made, promote=False)
    return made.version


def rollout_controller(deployment) -> Worker:
    """A learner whose rollout controller takes the newest snapshot — the test's; its own come
    every hour here — through a gate whose tolerance is open, so that the canary is what has to
    judge it."""
    process = Worker(
        deployment,
        {
            "STREAMAPP_LEARNER_WEB_PORT": str(free_port()),
            "STREAMAPP_MF_FACTORS": str(DIM),
            "STREAMAPP_ROLLOUT": "canary",
            "STREAMAPP_SNAPSHOT_INTERVAL_S": "3600",
            "STREAMAPP_ROLLOUT_INTERVAL_S": "1",
            "STREAMAPP_ROLLOUT_GATE_TOLERANCE": "1",
            "STREAMAPP_ROLLOUT_CANARY_SHARE": "0.3",
            "STREAMAPP_ROLLOUT_MIN_USERS": "50",  # of the world's 300 shoppers, 90 on canary
        },
        command="learner",
    )
    deployment.workers.append(process)
    return process.start()


async def step(store: Store, *names: str) -> dict | None:
    """The newest rollout step of one of ``names``."""
    found = [s for s in await recent_steps(store) if s["step"] in names]
    return found[0] if found else None


async def verdict_of(store: Store, canary: Worker, within_s: float) -> dict:
    """The canary's verdict step; failing, the last look the learner exported."""
    try:
        return await wait_for(
            lambda: step(store, "rolled_back", "promoted", "expired"), timeout=within_s
        )
    except TimeoutError:
        looks = [
            line
            for line in canary.text("/metrics").splitlines()
            if line.startswith("streamapp_experiment") and "canary" in line
        ]
        pytest.fail(f"no verdict in {within_s} s; the last look:\n" + "\n".join(looks))


@contextlib.asynccontextmanager
async def on_canary(deployment, shuffled: bool) -> AsyncIterator[Canary]:
    """A worker serving the truth, the candidate made from it, the rollout controller, and the
    shoppers at work (stopped on the way out)."""
    deployment.worker(STREAMAPP_MODEL_POLL_S="0.2", STREAMAPP_SCORE_WEIGHTS=WEIGHTS).start()
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        good = await promote_the_truth(store, registry)
        made = await candidate(registry, good, shuffled=shuffled)
        controller = rollout_controller(deployment)
        shoppers = simulate(deployment, ROLLBACK_WITHIN_S * 3)
        try:
            yield Canary(store, registry, good, made, controller)
        finally:
            shoppers.terminate()
            shoppers.wait(timeout=30)


@dataclasses.dataclass
class Canary:
    store: Store
    registry: ModelRegistry
    promoted: str
    candidate: str
    controller: Worker


async def test_a_sabotaged_candidate_is_rolled_back_and_its_users_return_to_the_promoted_model(
    deployment,
):
    async with on_canary(deployment, shuffled=True) as c:
        started = await wait_for(
            lambda: step(c.store, "canary_started"), timeout=60, what="a canary"
        )
        assert started["version"] == c.candidate
        assert await c.registry.candidate_version() == c.candidate
        ended = await verdict_of(c.store, c.controller, ROLLBACK_WITHIN_S)
        assert ended["step"] == "rolled_back", ended
        took = (ended["at"] - started["at"]) / 1000
        print(f"ROLLOUT sabotaged candidate rolled back {took:.1f} s after its canary began")
        assert took <= ROLLBACK_WITHIN_S
        assert ended["promoted"] == c.promoted
        assert await c.registry.candidate_version() is None
        assert ended["evidence"]["default"]["users"]["candidate"] > 0
        # Within seconds every list is the promoted model's again, the canary's users' too.
        back_by = ended["at"] + 5_000
        async with Tail(deployment.topic("recommendations")) as recs:
            later = await recs.until(
                lambda rs: sum(r["generated_at"] > back_by for r in rs) >= 50, timeout=60
            )
        assert {r["model_version"] for r in later if r["generated_at"] > back_by} == {c.promoted}
        # Before the verdict, the candidate's users were served the candidate (once the
        # workers had loaded it; the promoted model until then).
        canary_lists = [
            r
            for r in later
            if "candidate" in r["variant"].split(",") and r["generated_at"] < ended["at"]
        ]
        assert {r["model_version"] for r in canary_lists} <= {c.candidate, c.promoted}
        assert sum(r["model_version"] == c.candidate for r in canary_lists) > 10


async def test_a_candidate_as_good_as_the_promoted_model_is_promoted_after_its_canary(deployment):
    async with on_canary(deployment, shuffled=False) as c:
        ended = await verdict_of(c.store, c.controller, 2 * ROLLBACK_WITHIN_S)
        assert ended["step"] == "promoted", (ended["reason"], ended["evidence"])
        assert "non-inferior" in ended["reason"]
        assert await c.registry.promoted_version() == c.candidate
        assert await c.registry.candidate_version() is None
        gated = await step(c.store, "gate_passed")
        assert gated["evidence"]["interactions"] > 0
        print(f"ROLLOUT an as-good candidate promoted: {ended['reason']}")
