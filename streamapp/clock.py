"""The process clock: wall time in epoch milliseconds, the unit of every timestamp streamapp
reads and writes (event ``ts``, list ``generated_at``, retention horizons)."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall clock in epoch milliseconds."""
    return int(time.time() * 1000)
