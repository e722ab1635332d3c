"""Redis misbehaving under a running worker: the batch in flight is retried, never acknowledged,
and the worker ends with the state a never-disturbed worker makes of the same events."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from streamapp import datasets
from streamapp.datasets.replay import replay
from tests.faults.injection import (
    assert_every_user_got_a_list_after_their_last_event,
    frozen,
    redis_pid,
    report,
)
from tests.state import (
    UNBOUNDED,
    applied,
    assert_same_state,
    from_scratch,
    snapshot,
    wait_drained,
)
from tests.support import ROOT, Worker, wait_for

pytestmark = pytest.mark.integration

EVENTS = 4_000
# Short, so that a freeze of a few seconds is many timeouts long.
FAULTS = {**UNBOUNDED, "STREAMAPP_REDIS_TIMEOUT_S": "0.5"}


def failures(worker: Worker, reason: str) -> float:
    """Failed attempts of the interactions agent with ``reason``, from the worker's metrics."""
    prefix = f'streamapp_batch_failures_total{{agent="interactions",reason="{reason}"}} '
    lines = [line for line in worker.text("/metrics").splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


def readiness(worker: Worker) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/readyz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def start_replay(deployment) -> tuple[float, int]:
    """(the instant state is compared at, records published to the input topics)."""
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    counts = await replay(deployment.settings, log, speed=0, run_id="fault", progress=False)
    return at, sum(counts.values())


async def test_redis_frozen_past_the_client_timeout_stalls_then_resumes_without_loss(deployment):
    at, sent = await start_replay(deployment)
    worker = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > 0, timeout=60, what="the first batch applied")
    with frozen(redis_pid(deployment.redis)):
        await wait_for(
            lambda: (r := readiness(worker))[0] == 503 and "stalled" in r[1],
            timeout=30,
            what="/readyz to report the stalled agent",
        )
        assert worker.proc is not None and worker.proc.poll() is None
    resumed = time.monotonic()
    await wait_drained(deployment, deployment.settings.app_id)
    await wait_for(lambda: readiness(worker)[0] == 200, timeout=30, what="ready again")
    recovered_s = time.monotonic() - resumed
    metrics = worker.text("/metrics")
    assert 'streamapp_batch_failures_total{agent="interactions",reason="redis_timeout"}' in metrics
    await report(deployment, "redis frozen", sent, recovered_s)
    state = snapshot(deployment.redis, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)


async def test_worker_stopped_during_a_stalled_batch_commits_nothing_of_it(deployment):
    at, sent = await start_replay(deployment)
    first = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > 0, timeout=60, what="the first batch applied")
    with frozen(redis_pid(deployment.redis)):
        await wait_for(lambda: "stalled" in readiness(first)[1], timeout=30, what="a stalled batch")
        first.stop()  # SIGTERM: Faust shuts down and commits what was acknowledged
    resumed = time.monotonic()
    deployment.worker(**FAULTS).start()
    await wait_drained(deployment, deployment.settings.app_id)
    await report(deployment, "worker stopped in a stalled batch", sent, time.monotonic() - resumed)
    state = snapshot(deployment.redis, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)


async def test_redis_killed_and_restarted_from_its_append_only_file_loses_nothing(deployment):
    client = deployment.redis
    ours = ROOT / ".stack" / "redis"
    if client.config_get("dir")["dir"] != str(ours) or client.config_get("appendonly") != {
        "appendonly": "yes"
    }:
        pytest.fail(f"needs the suite's own Redis (deploy/redis/redis.sh, data in {ours})")
    at, sent = await start_replay(deployment)
    worker = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > EVENTS // 4, timeout=120, what="a quarter")
    pid = redis_pid(client)
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: "stalled" in readiness(worker)[1], timeout=30, what="a stalled batch")
    subprocess.run(["bash", str(ROOT / "deploy/redis/redis.sh"), "up"], check=True, timeout=60)
    assert redis_pid(client) != pid
    resumed = time.monotonic()
    await wait_drained(deployment, deployment.settings.app_id)
    await report(deployment, "redis killed and restarted", sent, time.monotonic() - resumed)
    state = snapshot(client, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)


async def test_redis_out_of_memory_stalls_then_resumes_without_loss(deployment):
    client = deployment.redis
    at, sent = await start_replay(deployment)
    worker = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > 0, timeout=60, what="the first batch applied")
    limit = client.config_get("maxmemory")["maxmemory"]
    # Below what Redis holds: with noeviction every write is refused (OOM) until it is raised.
    client.config_set("maxmemory", client.info("memory")["used_memory"] // 2)
    try:
        # Long enough for a failure taken for a lasting one to be narrowed down and rejected.
        await wait_for(
            lambda: failures(worker, "redis_out_of_memory") >= 6, timeout=60, what="6 failures"
        )
        assert "stalled" in readiness(worker)[1]
    finally:
        client.config_set("maxmemory", limit)
    resumed = time.monotonic()
    await wait_drained(deployment, deployment.settings.app_id)
    await report(deployment, "redis out of memory", sent, time.monotonic() - resumed)
    assert 'streamapp_dead_letters_total{reason="processing_failed"}' not in worker.text("/metrics")
    state = snapshot(client, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)
