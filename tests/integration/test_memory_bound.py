"""Redis memory is bounded by configuration, not by how many distinct ids arrive: one million
interactions, each with an item id and a category never seen before, through the worker's own
ingest script."""

from __future__ import annotations

import random

import pytest

from streamapp.state.store import Store

pytestmark = pytest.mark.integration

EVENTS = 1_000_000
BATCH = 5_000
USERS = 5_000


async def test_a_million_new_item_ids_leave_redis_memory_within_its_bound(deployment):
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
            if done % 200_000 == 0:
                used[done] = client.info("memory")["used_memory"]
    assert client.zcard(deployment.key("default:cvitems")) == 2_000
    assert client.zcard(deployment.key("default:categories")) == 500
    assert sum(1 for _ in client.scan_iter(deployment.key("default:cv:*"), count=10_000)) <= 2_000
    assert sum(1 for _ in client.scan_iter(deployment.key("default:catpop:*"), count=10_000)) <= 500
    # Past the warm-up, memory is flat however many new ids keep coming.
    print(f"MEMORY used_memory by events: {used}")
    assert used[EVENTS] < used[200_000] * 1.10
