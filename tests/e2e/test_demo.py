"""The main job as a new user meets it: ``deploy/demo.sh`` run from a fresh copy of the repository.

The copy holds what ``git clone`` gives (the tracked files of the work tree) and the installed
virtual environment, nothing that an earlier run left behind (no ``.stack/``). The demo runs
against the suite's Kafka and Redis with a deployment of its own (topic prefix, group, Redis
database), exactly as ``make demo`` runs it after ``make up``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import port_open
from tests.support import free_port, fresh_copy

pytestmark = pytest.mark.integration

# What `streamapp watch` prints per list.
LINE = re.compile(r"user=(\S+)\s+latency=\s*(-?\d+)ms model=(\S+)\s+reason=(\S+)\s+items: \S")


def _handle_sigint() -> None:
    """A shell started with SIGINT ignored (as a CI runner's background job is, and every
    process it starts) cannot trap it; handled here, SIGINT is reset to its default in the
    demo, which then meets Ctrl-C as it does in a terminal."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Demo:
    """``deploy/demo.sh`` in its own process group, its output read line by line."""

    def __init__(self, repo: Path, env: dict[str, str]) -> None:
        _handle_sigint()
        self.proc = subprocess.Popen(
            ["bash", "deploy/demo.sh"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        """Read lines until ``done(lines so far)`` holds or the demo exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                tail = "\n".join(self.seen[-40:])
                pytest.fail(f"demo did not get there in {timeout:.0f} s; its output:\n{tail}")
            try:
                self.seen.append(self.lines.get(timeout=min(left, 1.0)))
            except queue.Empty:
                continue

    def interrupt(self) -> int:
        """Ctrl-C, as a user stops it: SIGINT to the whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def drain(self) -> None:
        while not self.lines.empty():
            self.seen.append(self.lines.get())


def lists(lines: list[str]) -> list[re.Match[str]]:
    return [m for line in lines if (m := LINE.search(line))]


def test_demo_from_a_fresh_clone_shows_lists_from_the_learned_model_and_a_stock_out(
    deployment, tmp_path
):
    repo = fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in deployment.env.items() if k != "STREAMAPP_DATADIR"}
    env["STREAMAPP_LEARNER_WEB_PORT"] = str(free_port())
    demo = Demo(repo, env)
    try:
        # With the demo's defaults both come within the first 30 s of the replay; the deadline
        # leaves room for a slow machine.
        demo.until(
            lambda seen: (
                any("mf-" in m[3] for m in lists(seen))
                and any(m[4] == "stock_out" for m in lists(seen))
            ),
            timeout=240,
        )
    finally:
        code = demo.interrupt()
        demo.drain()
    shown = lists(demo.seen)
    assert all(int(m[2]) >= 0 for m in shown)
    assert {m[4] for m in shown} <= {"interaction", "stock_out"}
    assert any("worker ready" in line for line in demo.seen)
    assert any("stopped" in line for line in demo.seen), demo.seen[-10:]
    assert code == 0, (code, demo.seen[-25:])
    # Ctrl-C stopped the worker and the learner: nothing answers on their ports any more.
    for var in ("STREAMAPP_WEB_PORT", "STREAMAPP_LEARNER_WEB_PORT"):
        assert not port_open(int(env[var])), var
