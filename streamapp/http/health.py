"""Which agents are stalled on a failing batch: the batch runner reports, ``/readyz`` reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streamapp.ops import metrics

__all__ = ["Health"]

log = logging.getLogger(__name__)


class Health:
    """Which agents are stalled on a failing batch, and since when (``/readyz`` reads it)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.stalled: dict[str, float] = {}

    def stall(self, agent: str) -> None:
        if agent not in self.stalled:
            self.stalled[agent] = since = self.clock()
            metrics.STALLED_SINCE.labels(agent).set(since)

    def flow(self, agent: str) -> None:
        since = self.stalled.pop(agent, None)
        if since is not None:
            metrics.STALLED_SINCE.labels(agent).set(0)
            log.warning("agent=%s resumed after %.1f s stalled", agent, self.clock() - since)

    def problem(self) -> str | None:
        """Why the process is not ready, or None.

        >>> health = Health(clock=lambda: 100.0)
        >>> health.stall("interactions")
        >>> health.problem()
        'interactions stalled for 0.0 s on a failing batch (retrying)'
        """
        if not self.stalled:
            return None
        now = self.clock()
        return ", ".join(
            f"{agent} stalled for {now - since:.1f} s on a failing batch (retrying)"
            for agent, since in sorted(self.stalled.items())
        )
