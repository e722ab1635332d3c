"""Redis is a cache of Kafka: a state that Redis lost, or that is behind what the consumer group
committed, is rebuilt from the logs, the inventory first, and ends as a never-disturbed worker's
state; no list ever holds an item the inventory had taken out of stock before it was made."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter

import orjson
import pytest
import redis
from aiokafka import AIOKafkaProducer

from streamapp import databases, datasets
from streamapp.databases import with_database
from streamapp.datasets.replay import replay
from tests.faults.injection import (
    assert_every_user_got_a_list_after_their_last_event,
    read_all,
    redis_pid,
    report,
)
from tests.faults.test_redis_faults import EVENTS, FAULTS, readiness, start_replay
from tests.state import applied, assert_same_state, from_scratch, snapshot, wait_drained
from tests.support import REDIS_DB, ROOT, Env, wait_for

pytestmark = pytest.mark.integration

REPLICA_DB = databases.TESTS_REPLICA


async def take_out_of_stock(env: Env, count: int) -> set[str]:
    """Stock-outs, newer than anything the replay derived, of the log's most clicked items."""
    log = datasets.load("taobao")[-EVENTS:]
    items = {item for item, _ in Counter(e.item_id for e in log).most_common(count)}
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", acks="all")
    await producer.start()
    try:
        ts = int(time.time() * 1000)
        for n, item in enumerate(sorted(items)):
            value = {"event_id": f"out-{n}", "item_id": item, "stock": 0, "ts": ts}
            await producer.send_and_wait(
                env.topic("inventory"), orjson.dumps(value), key=item.encode()
            )
    finally:
        await producer.stop()
    return items


async def assert_no_list_holds(env: Env, items: set[str]) -> None:
    lists = await read_all(env.topic("recommendations"))
    assert lists
    holding = [m for m in lists if items & {i["item_id"] for i in m["items"]}]
    assert not holding, f"{len(holding)} of {len(lists)} lists hold an out-of-stock item"


async def test_redis_restarted_with_an_empty_data_directory_is_rebuilt_from_kafka(deployment):
    client = deployment.redis
    ours = ROOT / ".stack" / "redis"
    if client.config_get("dir")["dir"] != str(ours):
        pytest.fail(f"needs the suite's own Redis (deploy/redis/redis.sh, data in {ours})")
    at, sent = await start_replay(deployment)
    gone = await take_out_of_stock(deployment, 10)
    worker = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) > EVENTS // 3, timeout=120, what="a third")
    pid = redis_pid(client)
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: "stalled" in readiness(worker)[1], timeout=30, what="a stalled batch")
    shutil.rmtree(ours / "appendonlydir", ignore_errors=True)
    for rdb in ours.glob("*.rdb"):
        rdb.unlink()
    subprocess.run(["bash", str(ROOT / "deploy/redis/redis.sh"), "up"], check=True, timeout=60)
    resumed = time.monotonic()
    await wait_drained(deployment, deployment.settings.app_id)
    recovered_s = time.monotonic() - resumed
    metrics = worker.text("/metrics")
    rebuilds = [
        line for line in metrics.splitlines() if line.startswith("streamapp_state_rebuilds_total ")
    ]
    print(worker.log.read_text()[-20000:])
    assert rebuilds == ["streamapp_state_rebuilds_total 2.0"]  # the first start, then the loss
    await report(deployment, "redis restarted empty", sent + len(gone), recovered_s)
    state = snapshot(client, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)
    await assert_no_list_holds(deployment, gone)


async def test_a_state_behind_the_committed_offsets_replays_the_gap(deployment):
    """Redis failed over to a replica that lagged: the state's watermarks are behind what the
    group committed, and the records in between are applied again before anything after."""
    client = deployment.redis
    client_url = deployment.settings.redis_url
    group = deployment.settings.app_id
    log = datasets.load("taobao")[-EVENTS:]
    at = time.time() * 1000
    sent = 0
    for half, events in enumerate((log[: EVENTS // 2], log[EVENTS // 2 :])):
        counts = await replay(
            deployment.settings, events, speed=0, run_id=f"half{half}", progress=False
        )
        sent += sum(counts.values())
        worker = deployment.worker(**FAULTS).start()
        await wait_drained(deployment, group)
        worker.stop()
        if half == 0:  # the replica's copy, from here on behind
            replica = redis.Redis.from_url(with_database(client_url, REPLICA_DB))
            replica.flushdb()
            for key in client.scan_iter(count=1000):
                client.copy(key, key, destination_db=REPLICA_DB)
            behind = applied(deployment)
    client.swapdb(REDIS_DB, REPLICA_DB)
    replica.flushdb()
    replica.close()
    assert applied(deployment) == behind < EVENTS
    resumed = time.monotonic()
    failed_over = deployment.worker(**FAULTS).start()
    await wait_for(lambda: applied(deployment) == EVENTS, timeout=120, what="the gap replayed")
    await report(deployment, "state behind the committed offsets", sent, time.monotonic() - resumed)
    replayed = [
        float(line.split()[-1])
        for line in failed_over.text("/metrics").splitlines()
        if line.startswith("streamapp_replayed_records_total{")
    ]
    assert sum(replayed) >= EVENTS - behind
    state = snapshot(client, deployment.settings.app_id, at)
    assert_same_state(state, await from_scratch(deployment, at))
    await assert_every_user_got_a_list_after_their_last_event(deployment)
