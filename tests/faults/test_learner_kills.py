"""The learner killed (SIGKILL) while it writes snapshots, twenty times: a snapshot is stored and
promoted in one Redis transaction, so the promoted snapshot always loads, and each new learner
warm-starts from it."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.snapshots import SnapshotError
from streamapp.state.store import Store
from tests.support import Worker, free_port, now_ms, send, wait_for

pytestmark = pytest.mark.integration

KILLS = 20


@pytest.mark.timeout(900)
async def test_the_promoted_snapshot_always_loads_after_the_learner_is_killed(deployment, producer):
    rng = random.Random(20)
    # A snapshot every 50 ms, while clicks keep arriving: a kill lands in or near a write. The
    # broker's shortest session (6 s) is how soon the group lets the next learner in.
    fast = {
        "STREAMAPP_SNAPSHOT_INTERVAL_S": "0.05",
        "STREAMAPP_LEARNER_WEB_PORT": str(free_port()),
        "STREAMAPP_SESSION_TIMEOUT_S": "6",
        "STREAMAPP_ROLLOUT": "immediate",
    }
    clicks = deployment.topic("clicks")
    sent = 0

    async def feed() -> None:
        nonlocal sent
        while True:
            t = now_ms()
            for _ in range(20):
                user = f"u{sent % 50}"
                event = {
                    "event_id": f"k{sent}",
                    "user_id": user,
                    "item_id": f"i{sent % 97}",
                    "ts": t,
                }
                await send(producer, clicks, user, event)
                sent += 1
            await asyncio.sleep(0.02)

    feeding = asyncio.create_task(feed())
    loaded = []
    try:
        async with Store(deployment.settings) as store:
            registry = ModelRegistry(store)
            for kill in range(KILLS):
                learner = Worker(deployment, fast, command="learner")
                deployment.workers.append(learner)
                started = time.monotonic()
                learner.start()
                before = await registry.promoted_version()

                async def published(before: str | None = before) -> str | None:
                    version = await registry.promoted_version()
                    return version if version != before else None

                await wait_for(published, timeout=60, what=f"a snapshot before kill {kill}")
                await asyncio.sleep(rng.uniform(0.0, 0.2))
                learner.kill()
                version = await registry.promoted_version()
                assert version is not None
                try:
                    snapshot = await registry.load(version)
                except SnapshotError as exc:
                    pytest.fail(
                        f"kill {kill}: the promoted snapshot {version} does not load: {exc}"
                    )
                loaded.append((version, snapshot.events_seen, time.monotonic() - started))
    finally:
        feeding.cancel()
    print(f"FAULT learner killed {KILLS} times: promoted snapshots loaded {len(loaded)}")
    assert len(loaded) == KILLS
    # Warm starts: what the promoted snapshots learned from never goes back.
    seen = [events for _, events, _ in loaded]
    assert seen == sorted(seen)
