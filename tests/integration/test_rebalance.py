"""Scale-out: two workers in one group on six-partition topics, a second worker joining and
then one killed mid-stream — no event lost, none counted twice, every user keeps getting lists."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamapp import datasets
from streamapp.datasets.catalog import Interaction
from streamapp.datasets.replay import derive_inventory, replay, to_message
from tests.state import UNBOUNDED, applied, assert_same_state, from_scratch, snapshot, wait_drained
from tests.support import Tail, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

EVENTS = 9_000
STOCK = 3
RESTOCK_MS = 6 * 3600 * 1000


def applied_by(metrics: str) -> float:
    """Events a worker applied, from its Prometheus page."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("streamapp_events_total{") and 'outcome="applied"' in line
    )


async def test_a_join_and_a_kill_lose_nothing_and_count_nothing_twice(deployment, tmp_path):
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    settings = {**UNBOUNDED, "STREAMAPP_SESSION_TIMEOUT_S": "6"}
    first = deployment.worker(**settings).start()
    # Paced over ≈20 s, so events keep arriving through the join and the kill.
    speed = (log[-1].ts_ms - log[0].ts_ms) / 20_000
    feeding = asyncio.create_task(
        replay(
            deployment.settings,
            log,
            speed=speed,
            initial_stock=STOCK,
            restock_after_s=RESTOCK_MS / 1000,
            run_id="scale",
            progress=False,
        )
    )
    await wait_for(lambda: applied(deployment) > EVENTS // 5, timeout=120, what="a fifth applied")
    # The second worker joins: the group rebalances while the first is mid-stream.
    (tmp_path / "second").mkdir()
    second = deployment.worker(
        **settings,
        STREAMAPP_WEB_PORT=str(free_port()),
        STREAMAPP_DATADIR=str(tmp_path / "second"),
    ).start()
    assert second.text("/readyz")  # ready means it was assigned partitions
    await wait_for(lambda: applied(deployment) > EVENTS // 2, timeout=120, what="half applied")
    assert applied_by(second.text("/metrics")) > 0, "the joining worker took over partitions"
    # One dies without a goodbye: its partitions move after the session timeout.
    first.kill()
    assert not feeding.done(), "the kill must happen mid-stream"
    await feeding
    await wait_drained(deployment, deployment.settings.app_id)
    scaled = snapshot(deployment.redis, deployment.settings.app_id, at)

    # Every user keeps getting lists: one was caused by the user's last click or last cart
    # (clicks and carts are two topics; when both fall in one batch, one list answers both).
    timeline = derive_inventory(log, STOCK, RESTOCK_MS)
    last: dict[tuple[str, str], str] = {}
    for n, event in enumerate(timeline):
        if isinstance(event, Interaction):
            last[(event.user_id, to_message(event, "", 0)[0])] = f"scale-{n}"
    finals: dict[str, set[str]] = {}
    for (user, _), event_id in last.items():
        finals.setdefault(user, set()).add(event_id)

    def every_user_answered(lists: list[dict]) -> bool:
        triggers = {r["trigger"]["event_id"] for r in lists}
        return all(ids & triggers for ids in finals.values())

    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(every_user_answered, timeout=60)

    assert_same_state(scaled, await from_scratch(deployment, at))
