"""Worker and learner together: the learner's snapshot reaches every list."""

from __future__ import annotations

import pytest

from streamapp.learning.registry import ModelRegistry
from streamapp.state.store import Store
from tests.support import Tail, Worker, free_port, now_ms, send, send_clicks, wait_for

pytestmark = pytest.mark.integration


async def test_learner_snapshot_is_promoted_and_named_by_every_later_list(deployment, producer):
    fast = {
        "STREAMAPP_SNAPSHOT_INTERVAL_S": "0.5",
        "STREAMAPP_MODEL_POLL_S": "0.2",
        "STREAMAPP_ROLLOUT": "immediate",
    }
    worker = deployment.worker(**fast).start()
    exposure = {"STREAMAPP_EXPOSURE_WINDOW_S": "1", "STREAMAPP_ROLLOUT_INTERVAL_S": "0.5"}
    learner = Worker(
        deployment,
        {**fast, **exposure, "STREAMAPP_LEARNER_WEB_PORT": str(free_port())},
        command="learner",
    )
    deployment.workers.append(learner)
    learner.start()
    clicks = deployment.topic("clicks")
    t = now_ms() - 60_000
    await send(producer, clicks, "u0", b"not json")  # the learner skips what the worker rejects
    for n in range(60):
        user, item = f"u{n % 5}", f"i{n % 9}"
        await send(
            producer,
            clicks,
            user,
            {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": t + n},
        )
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        version = await wait_for(registry.promoted_version, timeout=60, what="a promoted snapshot")
        assert version.startswith("mf-")
        snapshot = await registry.load(version)
        assert set(snapshot.ids) <= {f"default:i{n}" for n in range(9)}
        assert await store.redis.get(deployment.key("default:u:u1:factors"))
    await wait_for(
        lambda: f'streamapp_model_version_info{{version="{version}"}}' in worker.text("/metrics"),
        what="worker loaded the snapshot",
    )
    await send(
        producer,
        clicks,
        "u2",
        {"event_id": "last", "user_id": "u2", "item_id": "i3", "ts": t + 100},
    )
    async with Tail(deployment.topic("recommendations")) as recs:
        found = await recs.until(lambda rs: any(r["trigger"]["event_id"] == "last" for r in rs))
    last = next(r for r in found if r["trigger"]["event_id"] == "last")
    assert last["model_version"].startswith("mf-")
    assert "streamapp_learner_events_total" in learner.text("/metrics")
    # The lists' exposure, per completed window, from the learner alone.
    await wait_for(
        lambda: (
            'streamapp_exposure{figure="lists",segment="all",tenant="default"}'
            in learner.text("/metrics")
        ),
        timeout=30,
        what="the learner exported a completed exposure window",
    )
    assert "streamapp_exposure{" not in worker.text("/metrics")


async def test_a_restarted_learner_continues_from_the_promoted_snapshot(deployment, producer):
    fast = {
        "STREAMAPP_SNAPSHOT_INTERVAL_S": "0.5",
        "STREAMAPP_LEARNER_WEB_PORT": str(free_port()),
        "STREAMAPP_ROLLOUT": "immediate",
    }
    first = Worker(deployment, fast, command="learner")
    deployment.workers.append(first)
    first.start()
    clicks = deployment.topic("clicks")
    t = now_ms() - 60_000

    async def click(n: int, item: str) -> None:
        await send(
            producer,
            clicks,
            f"u{n % 4}",
            {"event_id": f"e{n}", "user_id": f"u{n % 4}", "item_id": item, "ts": t + n},
        )

    for n in range(40):
        await click(n, f"old{n % 6}")
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)

        async def learned_all() -> str | None:
            version = await registry.promoted_version()
            done = version and (await registry.load(version)).events_seen == 40
            return version if done else None

        before = await wait_for(learned_all, timeout=60, what="a snapshot of all 40 events")
        first.stop()
        assert await registry.promoted_version() == before
        old = await registry.load(before)
        second = Worker(deployment, fast, command="learner")
        deployment.workers.append(second)
        second.start()
        for n in range(40, 50):
            await click(n, "new0")

        async def newer() -> str | None:
            version = await registry.promoted_version()
            return version if version != before else None

        after = await registry.load(await wait_for(newer, timeout=60, what="a new one"))
    assert set(old.ids) < set(after.ids), "item vectors carried over, the new item added"
    assert after.events_seen == old.events_seen + 10


async def test_the_learner_trains_the_ranker_on_shown_lists_and_what_users_did(
    deployment, producer
):
    fast = {
        "STREAMAPP_SNAPSHOT_INTERVAL_S": "0.5",
        "STREAMAPP_MODEL_POLL_S": "0.2",
        "STREAMAPP_ROLLOUT": "immediate",
    }
    worker = deployment.worker(STREAMAPP_AUDIT_SAMPLE_RATE="1", **fast).start()
    learner = Worker(
        deployment,
        {
            **fast,
            "STREAMAPP_RANKER_WINDOW_S": "1",
            "STREAMAPP_LEARNER_WEB_PORT": str(free_port()),
        },
        command="learner",
    )
    deployment.workers.append(learner)
    learner.start()
    clicks = deployment.topic("clicks")
    users = [f"u{n}" for n in range(4)]
    async with Tail(deployment.topic("recommendations")) as recs:
        await send_clicks(producer, clicks, 0, 24, users=4, items=7, t=now_ms())
        lists = await recs.until(lambda rs: {r["user_id"] for r in rs} >= set(users))
    # Each user then takes the last item of the list they were shown: a positive label.
    for n, user in enumerate(users):
        shown = [r for r in lists if r["user_id"] == user][-1]["items"]
        await send(
            producer,
            clicks,
            user,
            {
                "event_id": f"took{n}",
                "user_id": user,
                "item_id": shown[-1]["item_id"],
                "ts": now_ms(),
            },
        )
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)

        async def with_ranker() -> str | None:
            version = await registry.promoted_version()
            snap = await registry.load(version) if version else None
            return version if snap and snap.rankers.get("default") else None

        version = await wait_for(with_ranker, timeout=60, what="a snapshot with ranker weights")
        snapshot = await registry.load(version)
    assert snapshot.quality["ranker_examples"] > 0
    assert set(snapshot.rankers["default"]) >= {"bias", "prior"}
    # Four labelled lists are too few to show the ranker beats the hand weights: the snapshot
    # says so, and the tenant's lists keep the hand order.
    (verdict,) = (snapshot.ranker_adoption or {}).values()
    assert not verdict["adopted"] and "fewer than the 200" in verdict["reason"], verdict
    assert not snapshot.adopted("default")
    labelled = learner.text("/metrics")
    assert 'streamapp_ranker_lists_total{label="interacted"}' in labelled
    assert 'streamapp_ranker_adopted{tenant="default"} 0.0' in labelled
    await wait_for(
        lambda: (
            f"streamapp_model_ranker_features {len(snapshot.rankers['default'])}.0"
            in worker.text("/metrics")
        ),
        what="worker serving the learned ranker",
    )
