"""Online experiments: the statistics that decide them (:mod:`.statistics`), as pure functions
over per-user values, so the report, the canary gate and their tests share one implementation.
"""

from __future__ import annotations
