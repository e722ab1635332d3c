"""Promise 3: at-least-once input, effectively-once state, through a SIGKILL mid-stream."""

from __future__ import annotations

import time

import pytest

from streamapp import datasets
from streamapp.datasets.replay import replay
from tests.state import (
    UNBOUNDED,
    applied,
    assert_same_state,
    drained,
    from_scratch,
    snapshot,
    wait_drained,
)
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

EVENTS = 15_000


async def test_sigkill_mid_stream_ends_with_the_from_scratch_state(deployment):
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    await replay(deployment.settings, log, speed=0, run_id="crash", progress=False)
    first = deployment.worker(**UNBOUNDED).start()
    await wait_for(lambda: applied(deployment) > EVENTS // 4, timeout=120, what="a quarter applied")
    first.kill()
    assert not await drained(deployment, deployment.settings.app_id), "killed too late"

    second = deployment.worker(**UNBOUNDED).start()
    await wait_drained(deployment, deployment.settings.app_id)
    # The restart re-read events the killed worker had applied but not committed.
    assert 'outcome="replayed"' in second.text("/metrics")
    crashed = snapshot(deployment.redis, deployment.settings.app_id, at)
    reference = await from_scratch(deployment, at)

    assert_same_state(crashed, reference)
