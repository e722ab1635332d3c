"""The bench's CPU accounting reads what the kernel charged a process."""

from __future__ import annotations

import os
import time

from streamapp.bench.cpu import per_event, process_seconds


def test_process_seconds_grows_with_work_and_not_with_sleep():
    before = process_seconds(os.getpid())
    time.sleep(0.2)
    slept = process_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    worked = process_seconds(os.getpid())
    assert slept - before < 0.1
    assert worked - slept >= 0.2


def test_per_event_skips_processes_read_only_once_and_totals_the_rest():
    before = {"worker": 2.0, "learner": 1.0, "redis": 0.5}
    after = {"worker": 2.5, "redis": 0.6}
    assert per_event(before, after, 1000) == {"worker": 500.0, "redis": 100.0, "total": 600.0}
    assert per_event(before, after, 0)["total"] == 600_000.0
