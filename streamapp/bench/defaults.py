"""The bench's defaults, in a module of their own so that the command line shows them without
importing the harness and its clients."""

from __future__ import annotations

RATES = [1000, 2000, 5000, 10_000, 20_000]  # the ladder tried for the highest sustained rate
USERS = 250  # shoppers the log is folded onto: about 3 real ones each, histories at bounds
WARM_EVENTS = 100_000  # about 400 per shopper: every per-user structure at its bound
