"""Fixtures shared by the integration and end-to-end tests: the real stack and deployments.

The stack is started if it is not running and stopped again at the end (only what this
session started), so a test run leaves nothing behind. Unit tests never touch it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streamapp.ops.topics import TopicAdmin, load_specs
from streamapp.settings import Settings
from tests.support import (
    CLUSTER_PORT,
    ON_CLUSTER,
    Env,
    free_port,
    redis_client,
    redis_url,
    write_api_keys,
)

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ("default", "shop2")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def stack() -> Iterator[None]:
    """Kafka on 127.0.0.1:9092 and Redis on 127.0.0.1:6379 (or the three-master cluster from
    127.0.0.1:7001, ``STREAMAPP_TEST_REDIS=cluster``), started here if needed."""
    redis_service = (
        ("deploy/redis/cluster.sh", CLUSTER_PORT) if ON_CLUSTER else ("deploy/redis/redis.sh", 6379)
    )
    started = []
    for script, port in (("deploy/kafka/kafka.sh", 9092), redis_service):
        if not port_open(port):
            subprocess.run(["bash", str(ROOT / script), "up"], check=True)
            started.append(script)
    yield
    for script in reversed(started):
        subprocess.run(["bash", str(ROOT / script), "down"], check=False)


@pytest.fixture
def deployment(stack: None, tmp_path: Path) -> Iterator[Env]:
    """Fresh topics (unique prefix), a fresh consumer group and a flushed Redis database."""
    run = uuid.uuid4().hex[:8]
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    env = {
        **os.environ,
        "STREAMAPP_TOPIC_PREFIX": f"t{run}.",
        "STREAMAPP_APP_ID": f"streamapp-{run}",
        "STREAMAPP_REDIS_URL": redis_url(),
        "STREAMAPP_REDIS_CLUSTER": str(ON_CLUSTER).lower(),
        "STREAMAPP_WEB_PORT": str(free_port()),
        "STREAMAPP_DATADIR": str(tmp_path),
        "STREAMAPP_TENANTS": orjson.dumps(TENANTS).decode(),
        # In a folder of its own: a test may use tmp_path as a folder of topic declarations.
        "STREAMAPP_API_KEYS_FILE": str(write_api_keys(keys_dir / "api-keys.yaml", TENANTS)),
        "STREAMAPP_LAG_INTERVAL_S": "1",
    }
    settings = Settings(
        topic_prefix=env["STREAMAPP_TOPIC_PREFIX"],
        app_id=env["STREAMAPP_APP_ID"],
        redis_url=env["STREAMAPP_REDIS_URL"],
        redis_cluster=ON_CLUSTER,
        tenants=TENANTS,
    )
    client = redis_client(settings.redis_url)
    client.flushdb()

    async def create() -> None:
        async with TopicAdmin(settings) as admin:
            await admin.apply(load_specs(settings))

    asyncio.run(create())
    deployment = Env(settings, env, client)
    yield deployment
    for w in deployment.workers:
        w.stop()

    async def drop() -> None:
        async with TopicAdmin(settings) as admin:
            await admin.admin.delete_topics([s.name for s in load_specs(settings)])

    asyncio.run(drop())
    client.flushdb()
    client.close()


@pytest.fixture
async def producer(stack: None) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers="127.0.0.1:9092", max_request_size=4 * 1024 * 1024, linger_ms=1
    )
    await p.start()
    yield p
    await p.stop()
