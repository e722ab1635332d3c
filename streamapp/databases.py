"""How a process reaches Redis, and which database each user of one Redis server gets, in one
place so that none collide: a worker's state (database 0 unless ``STREAMAPP_REDIS_URL`` says
otherwise), the offline evaluation and the benchmark (which empty theirs), and the test
suite's (flushed per test). A Redis Cluster has database 0 only: there the app ids keep them
apart (:mod:`streamapp.state.keys`).

>>> with_database("redis://:secret@127.0.0.1:6379/0", BENCH)
'redis://:secret@127.0.0.1:6379/15'
>>> len(set(ALL.values())) == len(ALL)
True
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from streamapp.settings import Settings, read_secret

__all__ = [
    "ALL",
    "BENCH",
    "EVALUATION",
    "STATE",
    "TESTS",
    "TESTS_REFERENCE",
    "TESTS_REPLICA",
    "AsyncRedis",
    "connect",
    "security",
    "with_database",
]

AsyncRedis = aioredis.Redis | aioredis.RedisCluster

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


def with_database(url: str, database: int, cluster: bool = False) -> str:
    """``url`` (``redis://host:port/db``) pointing at ``database`` instead; unchanged for a
    cluster, which has database 0 only.

    >>> with_database("redis://127.0.0.1:7000/0", BENCH, cluster=True)
    'redis://127.0.0.1:7000/0'
    """
    if cluster:
        return url
    return url.rsplit("/", 1)[0] + f"/{database}"


def connect(settings: Settings, **options: Any) -> AsyncRedis:
    """A client of the configured Redis: one server, or a cluster (``redis_cluster``) whose
    slot map the client follows. ``options`` are the client's (timeouts); TLS and the
    password file come from the settings."""
    options = {**security(settings), **options}
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, **options)
    return aioredis.Redis.from_url(settings.redis_url, **options)


def security(settings: Settings) -> dict[str, Any]:
    """The client options for TLS (a ``rediss://`` URL: the server's certificate checked
    against ``redis_ca_file``, and a client certificate when one is set) and for a password
    kept in a file. A password in the URL wins over the file's.

    >>> security(Settings(redis_url="redis://127.0.0.1:6379/0"))
    {}
    >>> sorted(security(Settings(redis_url="rediss://h:6380/0", redis_ca_file="ca.pem")))
    ['ssl_ca_certs', 'ssl_cert_reqs']
    """
    options: dict[str, Any] = {}
    if settings.redis_url.startswith("rediss://"):
        options["ssl_cert_reqs"] = "required"
        tls = {
            "ssl_ca_certs": settings.redis_ca_file,
            "ssl_certfile": settings.redis_cert_file,
            "ssl_keyfile": settings.redis_key_file,
        }
        options.update({k: v for k, v in tls.items() if v})
    if settings.redis_password_file:
        options["password"] = read_secret(
            settings.redis_password_file, "STREAMAPP_REDIS_PASSWORD_FILE"
        )
    return options
