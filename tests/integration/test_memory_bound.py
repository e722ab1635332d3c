"""Redis memory is bounded by configuration, not by how many distinct ids arrive: half a
million interactions, each with an item id and a category never seen before, through the
worker's own ingest script; memory is measured once the bounded keys are full and again after
four times as many new ids."""

from __future__ import annotations

import random

import pytest

from streamapp.state.store import Store

pytestmark = pytest.mark.integration

EVENTS = 500_000
WARM = 100_000  # every user's keys full (40 events a user on average, 16 kept)
BATCH = 5_000
USERS = 2_500


async def test_new_item_ids_past_the_bounds_leave_redis_memory_flat(deployment):
    # Users' own bounds small, so that their keys are full (at 16 events a user) long before
    # the first measurement, and what could still grow is what the new ids make.
    settings = deployment.settings.model_copy(
        update={
            "covisit_items_max": 2_000,
            "categories_max": 500,
            "seen_event_ids": 16,
            "user_items_max": 16,
            "user_categories_max": 8,
        }
    )
    client = deployment.redis
    rng = random.Random(5)
    used: dict[int, int] = {}
    async with Store(settings) as store:
        for start in range(0, EVENTS, BATCH):
            rows = [
                (
                    "default",
                    "clicks:0",
                    n,
                    f"e{n}",
                    f"u{rng.randrange(USERS)}",
                    f"i{n}",
                    f"c{n}",
                    1.0,
                    1_800_000_000_000 + n,
                    0,
                    False,
                )
                for n in range(start, start + BATCH)
            ]
            await store.ingest(rows, [])
            done = start + BATCH
            if done in (WARM, EVENTS):
                used[done] = client.info("memory")["used_memory"]
    assert client.zcard(deployment.key("default:cvitems")) == 2_000
    assert client.zcard(deployment.key("default:categories")) == 500
    assert sum(1 for _ in client.scan_iter(deployment.key("default:cv:*"), count=10_000)) <= 2_000
    assert sum(1 for _ in client.scan_iter(deployment.key("default:catpop:*"), count=10_000)) <= 500
    # Past the warm-up, memory is flat however many new ids keep coming.
    print(f"MEMORY used_memory by events: {used}")
    assert used[EVENTS] < used[WARM] * 1.10
