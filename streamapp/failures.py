"""Which failures of a batch pass by themselves, and how long to wait before trying again.

A *transient* failure is one of the services being away or overloaded — Redis down, frozen,
loading, out of memory, read-only during a failover; the broker unreachable, without a leader,
timing out. The same batch will succeed later, so it is retried for as long as that lasts. Any
other exception (a Lua error, a record the broker refuses for good, a bug) is *deterministic*:
retrying the whole batch forever would stall every event behind it, so the batch is narrowed
down to the events that cause it (:mod:`streamapp.worker.batch_runner`).

redis-py turns most error replies into a class of their own (``OOM …`` into
``OutOfMemoryError``, without the prefix), which is what is checked:

>>> import redis.exceptions as r
>>> is_transient(r.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."))
True
>>> is_transient(r.ResponseError("BUSY Redis is busy running a script."))
True
>>> is_transient(r.ResponseError("ERR user_script:12: attempt to index a nil value"))
False
>>> reason(r.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."))
'redis_out_of_memory'
>>> reason(r.ResponseError("BUSY Redis is busy running a script."))
'redis_busy'
"""

from __future__ import annotations

import re

from aiokafka.errors import KafkaError, KafkaTimeoutError
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["Transient", "backoff_s", "is_transient", "reason"]

# A Redis that is away, loading, failing over, out of memory or waiting for a cluster slot.
TRANSIENT_REDIS = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OutOfMemoryError,
    ReadOnlyError,
    MasterDownError,
    TryAgainError,
    ClusterDownError,
)
# A busy script or server has no class of its own: its reply starts with the word.
BUSY_REPLY = "BUSY "
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class Transient(Exception):
    """A failure of our own that passes once its cause is dealt with (retried with backoff)."""


def is_transient(exc: BaseException) -> bool:
    """Will the same work succeed once the services are back?"""
    if isinstance(exc, (Transient, *TRANSIENT_REDIS)):
        return True
    if isinstance(exc, ResponseError):
        return str(exc).startswith(BUSY_REPLY)
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
    # Sockets, and asyncio's timeouts (the builtin TimeoutError, an OSError).
    return isinstance(exc, OSError)


def reason(exc: BaseException) -> str:
    """A low-cardinality label for a failure: its type, prefixed by the service it came from.

    >>> from aiokafka.errors import MessageSizeTooLargeError
    >>> reason(MessageSizeTooLargeError())
    'kafka_message_size_too_large'
    >>> reason(ValueError("x"))
    'value_error'
    """
    name = type(exc).__name__
    for suffix in ("Error", "Exception"):
        name = name.removesuffix(suffix)
    label = _CAMEL.sub("_", name).lower()
    if isinstance(exc, ResponseError) and type(exc) is ResponseError:
        # Redis names the kind of error in the reply's first word (OOM, BUSY, ERR, WRONGTYPE).
        word = str(exc).split(" ", 1)[0]
        return f"redis_{word.lower()}" if word.isalpha() and word.isupper() else "redis_response"
    if isinstance(exc, RedisError):
        return f"redis_{label}"
    if isinstance(exc, KafkaError):
        return f"kafka_{label.removeprefix('kafka_')}"
    return f"{label}_error"


def backoff_s(attempt: int, base_s: float = 0.05, cap_s: float = 5.0) -> float:
    """Capped exponential backoff before retry number ``attempt`` (1, 2, …).

    >>> [backoff_s(n) for n in (1, 2, 3, 8, 20)]
    [0.05, 0.1, 0.2, 5.0, 5.0]
    """
    return min(cap_s, base_s * 2 ** min(attempt - 1, 32))
