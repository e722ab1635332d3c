"""The decay landmark moves forward in one script, per tenant: every decayed value stays what it
was, the other tenant is untouched, and every worker re-reads the landmark before it adds a
weight (the state's epoch changes with it)."""

from __future__ import annotations

import math
import time

import pytest

from streamapp.state.decay import UNITS, stored_weight
from streamapp.state.store import Store
from streamapp.state.types import StateLost
from tests.state import snapshot
from tests.support import Tail, send, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

DAY_MS = 86_400_000


def rows(tenant: str, landmark: float, rate: float) -> list[tuple[object, ...]]:
    return [
        (
            tenant,
            "clicks:0" if tenant == "default" else "clicks:1",
            n,
            f"{tenant}-e{n}",
            f"u{n % 3}",
            f"i{n % 5}",
            f"c{n % 2}",
            stored_weight(1.0, landmark + n * 3_600_000, landmark, rate),
            int(landmark) + n * 3_600_000,
            0,
            False,
        )
        for n in range(30)
    ]


async def test_a_rescale_keeps_every_value_and_makes_workers_reread_the_landmark(deployment):
    settings = deployment.settings
    client = deployment.redis
    rate = settings.decay_rate
    first = 1_790_000_000_000
    async with Store(settings) as store, Store(settings) as other:
        for s in (store, other):
            s.guarded = True
        store.adopt("e1")
        other.adopt("e1")
        client.set(store.epoch_key, "e1")
        landmark = await store.landmark("default", first)
        await store.landmark("shop2", first)
        await store.ingest(rows("default", landmark, rate), [])
        await store.ingest(rows("shop2", landmark, rate), [])
        at = first + 40 * 3_600_000
        before = (
            snapshot(client, deployment.settings.app_id, at),
            snapshot(client, deployment.settings.app_id, at, "shop2"),
        )
        raw_shop2 = client.zrange(deployment.key("shop2:pop"), 0, -1, withscores=True)

        raw_pop = client.zrange(deployment.key("default:pop"), 0, -1, withscores=True)
        moved_to = first + 30 * 3_600_000  # past the last event
        assert await store.rescale("default", landmark, moved_to)
        assert float(client.get(deployment.key("default:landmark"))) == moved_to
        assert store.epoch == client.get(store.epoch_key).decode() != "e1"
        after = (
            snapshot(client, deployment.settings.app_id, at),
            snapshot(client, deployment.settings.app_id, at, "shop2"),
        )
        assert after[0][1] == before[0][1]  # exact structures
        for key, values in before[0][0].items():
            for member, value in values.items():
                # Rounded to whole units at the new landmark: within one of what it was.
                assert after[0][0][key][member] == pytest.approx(value, abs=1.0), (key, member)
        assert client.zrange(deployment.key("shop2:pop"), 0, -1, withscores=True) == raw_shop2
        rescaled = client.zrange(deployment.key("default:pop"), 0, -1, withscores=True)
        assert all(s == int(s) for _, s in rescaled)
        assert max(s for _, s in rescaled) < max(s for _, s in raw_pop)

        # A worker still on the old landmark is refused before it adds anything, re-reads it.
        with pytest.raises(StateLost):
            await other.ingest(rows("default", landmark, rate)[:1], [])
        assert other.epoch is None
        # The first to move it wins; a second attempt from the old landmark changes nothing.
        assert not await store.rescale("default", landmark, moved_to + 1)

        # What decays below a unit is gone: 300 days on, nothing of these clicks is left.
        assert await store.rescale("default", moved_to, moved_to + 300 * DAY_MS)
        assert snapshot(client, deployment.settings.app_id, at)[0] == {}
        assert client.zrange(deployment.key("shop2:pop"), 0, -1, withscores=True) == raw_shop2


async def test_the_worker_moves_the_landmark_when_scores_near_their_range(deployment, producer):
    # A half-life of one second: the landmark must move once events are ≈26 s apart.
    worker = deployment.worker(STREAMAPP_HALF_LIFE_S="1").start()
    now = int(time.time() * 1000)
    clicks = deployment.topic("clicks")
    old = {"event_id": "old", "user_id": "u1", "item_id": "i1", "ts": now - 400_000}
    await send(producer, clicks, "u1", old)
    await wait_for(
        lambda: deployment.redis.get(deployment.key("default:landmark")), what="the first landmark"
    )
    async with Tail(deployment.topic("recommendations")) as lists:
        new = {"event_id": "new", "user_id": "u1", "item_id": "i2", "ts": now}
        await send(producer, clicks, "u1", new)
        await lists.until(lambda got: "new" in {m["trigger"]["event_id"] for m in got})
    assert int(deployment.redis.get(deployment.key("default:landmark"))) == now
    scores = dict(deployment.redis.zrange(deployment.key("default:pop"), 0, -1, withscores=True))
    assert all(math.isfinite(s) for s in scores.values())
    assert scores == {b"i2": UNITS}  # the new click at the new landmark; the old one is gone
    assert worker.proc is not None and worker.proc.poll() is None


async def test_a_rescale_within_a_rebuild_leaves_the_epoch_to_the_rebuild(deployment):
    settings = deployment.settings
    client = deployment.redis
    first = 1_790_000_000_000
    async with Store(settings) as store:
        store.guarded = True
        await store.begin_rebuild("c1")
        with store.rebuilding(None, "c1"):
            landmark = await store.landmark("default", first)
            await store.ingest(rows("default", landmark, settings.decay_rate), [])
            assert await store.rescale("default", landmark, first + 300 * DAY_MS)
        assert client.get(store.epoch_key) is None  # set when the rebuild ends, not before
        assert store.epoch is None
        assert await store.establish_epoch("c1") == "c1"


async def test_a_state_counted_in_weights_is_converted_to_units_once(deployment):
    client = deployment.redis
    first = 1_790_000_000_000
    client.set(
        deployment.key("default:landmark"), first
    )  # a state from before sums were whole units
    client.zadd(deployment.key("default:pop"), {"a": 1.5, "b": 0.25})
    client.zadd(deployment.key("default:u:u1:items"), {"a": 1.0000004})
    client.set(deployment.key("shop2:landmark"), first)
    client.zadd(deployment.key("shop2:pop"), {"a": 1.5})
    async with Store(deployment.settings) as store:
        assert await store.landmark("default", first + 5) == first
        assert await store.landmark("fresh", first) == first
    assert client.zrange(deployment.key("default:pop"), 0, -1, withscores=True) == [
        (b"b", 0.25 * UNITS),
        (b"a", 1.5 * UNITS),
    ]
    assert client.zscore(deployment.key("default:u:u1:items"), "a") == UNITS
    assert (
        client.get(deployment.key("default:units")) is not None
        and client.get(deployment.key("fresh:units")) is not None
    )
    assert (
        client.zscore(deployment.key("shop2:pop"), "a") == 1.5
    )  # converted when its own events come
    # Once: another process finds the unit and reads the state as it is, and one that had read
    # the landmark before the conversion does not convert it again.
    async with Store(deployment.settings) as other:
        assert await other.landmark("default", first) == first
        assert not await other.rescale("default", first, first, from_units=1.0)
    assert client.zscore(deployment.key("default:pop"), "a") == 1.5 * UNITS
