"""Which Redis database each user of one Redis server gets, in one place so that none collide:
a worker's state (database 0 unless ``STREAMAPP_REDIS_URL`` says otherwise), the offline
evaluation and the benchmark (which flush theirs), and the test suite's (flushed per test).

>>> with_database("redis://:secret@127.0.0.1:6379/0", BENCH)
'redis://:secret@127.0.0.1:6379/15'
>>> len(set(ALL.values())) == len(ALL)
True
"""

from __future__ import annotations

__all__ = ["ALL", "BENCH", "EVALUATION", "STATE", "TESTS", "TESTS_REFERENCE", "TESTS_REPLICA"]

STATE = 0
TESTS = 9
TESTS_REFERENCE = 10  # the never-disturbed worker the fault tests compare against
TESTS_REPLICA = 11  # the lagging copy a failover test swaps in
EVALUATION = 13
BENCH = 15

ALL = {
    "state": STATE,
    "tests": TESTS,
    "tests_reference": TESTS_REFERENCE,
    "tests_replica": TESTS_REPLICA,
    "evaluation": EVALUATION,
    "bench": BENCH,
}


def with_database(url: str, database: int) -> str:
    """``url`` (``redis://host:port/db``) pointing at ``database`` instead."""
    return url.rsplit("/", 1)[0] + f"/{database}"
