"""A worker frozen past its session timeout while it holds a batch: the group gives its
partitions to the other worker, and when it wakes it is a zombie that still believes it owns
them. Whatever it then applies or publishes, nothing is counted twice and nothing is lost."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamapp import datasets
from streamapp.datasets.replay import replay
from tests.faults.injection import (
    assert_every_user_got_a_list_after_their_last_event,
    frozen,
    report,
)
from tests.state import UNBOUNDED, applied, assert_same_state, from_scratch, snapshot, wait_drained
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

EVENTS = 6_000
SESSION_TIMEOUT_S = 6


async def test_a_worker_frozen_past_its_session_timeout_does_not_double_count(deployment, tmp_path):
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    settings = {**UNBOUNDED, "STREAMAPP_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    first = deployment.worker(**settings).start()
    (tmp_path / "zombie").mkdir()
    zombie = deployment.worker(
        **settings,
        STREAMAPP_WEB_PORT=str(free_port()),
        STREAMAPP_DATADIR=str(tmp_path / "zombie"),
    ).start()
    # Paced over ≈30 s, so events keep arriving before, during and after the freeze.
    speed = (log[-1].ts_ms - log[0].ts_ms) / 30_000
    feeding = asyncio.create_task(
        replay(deployment.settings, log, speed=speed, run_id="zombie", progress=False)
    )
    await wait_for(lambda: applied(deployment) > EVENTS // 5, timeout=120, what="a fifth")
    assert zombie.proc is not None
    with frozen(zombie.proc.pid):
        # Past the session timeout: the group moves the zombie's partitions to the first.
        await asyncio.sleep(SESSION_TIMEOUT_S * 2)
        assert not feeding.done(), "the freeze must happen mid-stream"
    woke = time.monotonic()
    counts = await feeding
    await wait_drained(deployment, deployment.settings.app_id)
    await report(
        deployment,
        "worker frozen past its session timeout",
        sum(counts.values()),
        time.monotonic() - woke,
    )
    assert first.proc is not None and first.proc.poll() is None
    state = snapshot(deployment.redis, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)
