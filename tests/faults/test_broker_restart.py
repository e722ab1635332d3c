"""The broker killed (SIGKILL) and restarted from its data in the middle of a stream."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.faults.injection import assert_every_user_got_a_list_after_their_last_event, report
from tests.faults.test_redis_faults import FAULTS, start_replay
from tests.state import applied, assert_same_state, from_scratch, snapshot, wait_drained
from tests.support import ROOT, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

PIDFILE = ROOT / ".stack" / "kafka" / "kafka.pid"


def broker_pid() -> int:
    """The suite's broker (deploy/kafka/kafka.sh); another one on the port cannot be restarted
    from its data here."""
    if not PIDFILE.exists():
        pytest.fail(f"needs the suite's own broker (deploy/kafka/kafka.sh, pid in {PIDFILE})")
    pid = int(PIDFILE.read_text())
    os.kill(pid, 0)
    return pid


async def test_broker_killed_and_restarted_mid_stream_loses_nothing(deployment):
    at, sent = await start_replay(deployment)
    worker = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > 1000, timeout=120, what="1,000 applied")
    pid = broker_pid()
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: not _alive(pid), timeout=30, what="the broker gone")
    subprocess.run(["bash", str(ROOT / "deploy/kafka/kafka.sh"), "up"], check=True, timeout=180)
    restarted = time.monotonic()
    await wait_drained(deployment, deployment.settings.app_id, timeout=300)
    await report(deployment, "broker killed and restarted", sent, time.monotonic() - restarted)
    assert worker.proc is not None and worker.proc.poll() is None
    state = snapshot(deployment.redis, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
