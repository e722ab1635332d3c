"""A worker SIGKILLed ten times at random moments while a replay streams in: at-least-once input
and idempotent state end with exactly the state of a never-interrupted worker."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from streamapp import datasets
from streamapp.datasets.replay import replay
from tests.faults.injection import assert_every_user_got_a_list_after_their_last_event, report
from tests.state import UNBOUNDED, applied, assert_same_state, from_scratch, snapshot, wait_drained
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

EVENTS = 6_000
KILLS = 10
# A killed member leaves the group only when its session times out: keep that short.
SETTINGS = {**UNBOUNDED, "STREAMAPP_SESSION_TIMEOUT_S": "6"}


async def test_worker_killed_ten_times_during_a_replay_loses_and_doubles_nothing(deployment):
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    speed = (log[-1].ts_ms - log[0].ts_ms) / 40_000  # the log paced over ≈40 s
    feeding = asyncio.create_task(
        replay(deployment.settings, log, speed=speed, run_id="kills", progress=False)
    )
    rng = random.Random(20261130)
    started = time.monotonic()
    for _ in range(KILLS):
        worker = deployment.worker(**SETTINGS).start()
        target = applied(deployment) + rng.randint(20, 300)
        await wait_for(
            lambda t=target: applied(deployment) >= t or feeding.done(),
            timeout=120,
            what="the worker to apply a few events",
        )
        worker.kill()
    deployment.worker(**SETTINGS).start()
    sent = sum((await feeding).values())
    await wait_drained(deployment, deployment.settings.app_id)
    await report(deployment, f"worker killed {KILLS} times", sent, time.monotonic() - started)
    state = snapshot(deployment.redis, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)
