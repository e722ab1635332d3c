"""Do Kafka and Redis answer? Asked before a command starts its real work.

Without it, a broker that is down surfaces as a traceback from deep inside Faust's producer (or
as aiokafka's log lines and warnings about unclosed clients) and a Redis that is down as the
first failed batch; with it, the person starting the command reads one line with the address
that was tried (never a password) and what to do.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from streamapp.brokers import describe, kafka_options
from streamapp.databases import connect
from streamapp.errors import ServiceUnreachableError
from streamapp.settings import Settings, redact

__all__ = ["check_kafka", "check_redis", "check_services", "kafka_unreachable", "redis_unreachable"]


def redis_unreachable(settings: Settings, exc: BaseException) -> str:
    """What to tell a user whose Redis does not answer (before or during a command)."""
    return (
        f"Redis does not answer at {redact(settings.redis_url)} ({type(exc).__name__}: {exc}); "
        "start the local stack with `make up`, or point STREAMAPP_REDIS_URL at a running one"
    )


def kafka_unreachable(settings: Settings, exc: BaseException, refused: str = "") -> str:
    """What to tell a user whose Kafka does not answer (before or during a command); with
    ``refused``, the broker answered and turned the client away (credentials, TLS), which a
    running stack does not mend."""
    if refused:
        return (
            f"Kafka at {describe(settings)} refused the connection: {refused}; check the "
            "STREAMAPP_KAFKA_SASL_* and STREAMAPP_KAFKA_SSL_* settings"
        )
    return (
        f"Kafka does not answer at {describe(settings)} ({exc}); start the local stack "
        "with `make up`, or point STREAMAPP_KAFKA_BOOTSTRAP at a running one"
    )


class _Refusals(logging.Handler):
    """Keeps what aiokafka logs of a broker turning the client away: its bootstrap error
    says only that no broker could be reached."""

    MARKS = ("Authentication", "SSL", "certificate")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(mark in message for mark in self.MARKS):
            self.seen = message.split(": ", 1)[-1]


async def check_redis(settings: Settings, timeout_s: float = 5.0) -> None:
    """PING the configured Redis (authentication and TLS included, as the URL says)."""
    client = connect(settings, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise ServiceUnreachableError(redis_unreachable(settings, exc)) from None
    finally:
        await client.aclose()


async def check_kafka(settings: Settings, timeout_s: float = 5.0) -> None:
    """Fetch the cluster's metadata from the configured bootstrap servers."""
    admin = AIOKafkaAdminClient(**kafka_options(settings), request_timeout_ms=int(timeout_s * 1000))
    # aiokafka logs each failed bootstrap at ERROR; the error raised below says it once, with
    # the broker's refusal when there was one.
    client_log = logging.getLogger("aiokafka")
    refusals = _Refusals()
    propagates = client_log.propagate
    client_log.propagate = False
    client_log.addHandler(refusals)
    try:
        await admin.start()
    except KafkaError as exc:
        raise ServiceUnreachableError(kafka_unreachable(settings, exc, refusals.seen)) from None
    finally:
        await admin.close()
        client_log.removeHandler(refusals)
        client_log.propagate = propagates


async def check_services(settings: Settings, services: tuple[str, ...]) -> None:
    """The named services (``kafka``, ``redis``), Kafka first as the stack starts it first."""
    if "kafka" in services:
        await check_kafka(settings)
    if "redis" in services:
        await check_redis(settings)
