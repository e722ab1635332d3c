"""``streamapp bench``: freshness, invalidation and throughput through the real local broker.

Everything runs on a private topic prefix, consumer group and Redis database, with a worker
started as a subprocess (the same ``streamapp worker`` operators run) and, unless
``--no-learner``, the learner beside it; events are real Taobao interactions with fresh ids and
timestamps. The log's 814 shoppers are folded onto ``--users`` of them (250), so that every
shopper's history reaches its bounds: the bench times the steady state a shop lives in, not a
young state whose every list is cheap. Phases:

1. bare: a plain aiokafka consume loop over N pre-produced click records (the baseline);
2. warm-up and throughput: W records (``--warm-events``) and then N more wait in the topic; the
   worker catches up on all of them, timed over the N only (events/s from the W-th applied to
   the last), on state the W have filled (``history_fill`` says how close to their bounds);
3. freshness: R events/s for a warm-up (not timed), then for T seconds; produce →
   recommendation consumed, per event. A fresh broker's JVM is still compiling for its first
   minute or so: on a fresh stack, time the second run (docs/performance.md);
4. sustained rate: freshness at each of a ladder of rates, up to the first whose p99 misses
   the 50 ms objective;
5. invalidation: stock-outs of items in current lists; produce → every affected user's
   corrected list consumed; then the same for block rules on such items (the rules topic).

Every phase that times events also reads the CPU time each process spent
(:mod:`streamapp.bench.cpu`): microseconds per event are what a capacity plan is made of.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamapp import databases, datasets
from streamapp.bench.cpu import CpuMeter, broker_pid, per_event
from streamapp.bench.defaults import RATES, USERS, WARM_EVENTS
from streamapp.bench.measures import memory_usage
from streamapp.bench.otlp_receiver import OtlpReceiver
from streamapp.brokers import kafka_options
from streamapp.databases import AsyncRedis, connect, with_database
from streamapp.ops.topics import TopicAdmin, load_specs
from streamapp.settings import Settings
from streamapp.state import keys
from streamapp.state.store import Store
from streamapp.worker.heap import tune_collector

OBJECTIVE_P99_MS = 50.0  # the freshness promise (docs/performance.md)


def within_objective(step: dict[str, Any]) -> bool:
    """Whether a rate step's lists all arrived with freshness p99 within the objective."""
    return step["p99_ms"] is not None and step["p99_ms"] <= OBJECTIVE_P99_MS


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100).

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50), percentile([5.0, 1.0, 3.0], 100)
    (3.0, 5.0)
    """
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def fold(user_id: str, users: int) -> str:
    """The bench shopper a log's shopper is folded onto: a stable bucket of ``users``.

    >>> fold("1001018", 250)
    's7'
    >>> sorted({fold(str(shopper), 3) for shopper in range(100)})
    ['s0', 's1', 's2']
    """
    return f"s{zlib.crc32(user_id.encode()) % users}"


def _events(run: str, users: int) -> Iterator[tuple[str, bytes]]:
    """Endless real interactions as (user key, click JSON) with fresh ids and timestamps, the
    log's shoppers folded onto ``users`` (each then sees the items of several real ones)."""
    log = datasets.load("taobao")
    n = 0
    while True:
        for row in log:
            n += 1
            user_id = fold(row.user_id, users)
            yield (
                user_id,
                orjson.dumps(
                    {
                        "event_id": f"{run}-{n}",
                        "user_id": user_id,
                        "item_id": row.item_id,
                        "category": row.category,
                        "ts": int(time.time() * 1000),
                    }
                ),
            )


class Bench:
    """One benchmark run on its own topics, group and Redis keys (its own app id, and its own
    database on a single Redis)."""

    def __init__(self, base: Settings, users: int = USERS) -> None:
        self.run = uuid.uuid4().hex[:6]
        self.settings = base.model_copy(
            update={
                "topic_prefix": f"bench{self.run}.",
                "app_id": f"streamapp-bench{self.run}",
                "redis_url": with_database(base.redis_url, databases.BENCH, base.redis_cluster),
            }
        )
        self.events = _events(self.run, users)
        self.worker: subprocess.Popen[bytes] | None = None
        self.learner: subprocess.Popen[bytes] | None = None
        self.port = base.web_port + 100

    async def setup(self) -> None:
        async with TopicAdmin(self.settings) as admin:
            await admin.apply(load_specs(self.settings))
        async with Store(self.settings) as store:
            await store.forget()

    async def teardown(self) -> None:
        for process in (self.worker, self.learner):
            if process and process.poll() is None:
                process.terminate()
                process.wait(30)
        async with TopicAdmin(self.settings) as admin:
            await admin.admin.delete_topics([s.name for s in load_specs(self.settings)])
        async with Store(self.settings) as store:
            await store.forget()

    async def produce(self, producer: AIOKafkaProducer, count: int) -> None:
        topic = self.settings.topic("clicks")
        futures = []
        for _ in range(count):
            key, value = next(self.events)
            futures.append(await producer.send(topic, value, key=key.encode()))
        await asyncio.gather(*futures)

    async def bare_consumer(self, count: int) -> float:
        """Events/s of a plain aiokafka loop that decodes each record, nothing else."""
        consumer = AIOKafkaConsumer(
            self.settings.topic("clicks"),
            **kafka_options(self.settings),
            group_id=f"{self.settings.app_id}-bare",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen, started = 0, time.perf_counter()
        try:
            while seen < count:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for record in records:
                        orjson.loads(record.value)
                    seen += len(records)
            return seen / (time.perf_counter() - started)
        finally:
            await consumer.stop()

    def start(self, workdir: Path, with_learner: bool, extra: dict[str, str]) -> None:
        """The worker and, with ``with_learner``, the learner (own group) beside it.

        The learner labels audited lists after 1 s and snapshots every 10 s (not 600 s and
        30 s), and serves each snapshot at once (``STREAMAPP_ROLLOUT=immediate``: a canary
        would hold it back for minutes), so its model — item vectors and ranker weights —
        reaches the worker soon after the throughput phase, and the later phases measure the
        worker serving it while new snapshots keep arriving. All three can be overridden from
        the environment.
        """
        env = {
            "STREAMAPP_RANKER_WINDOW_S": "1",
            "STREAMAPP_SNAPSHOT_INTERVAL_S": "10",
            "STREAMAPP_ROLLOUT": "immediate",
            **os.environ,
            **extra,
            "STREAMAPP_TOPIC_PREFIX": self.settings.topic_prefix,
            "STREAMAPP_APP_ID": self.settings.app_id,
            "STREAMAPP_REDIS_URL": self.settings.redis_url,
            "STREAMAPP_WEB_PORT": str(self.port),
            "STREAMAPP_LEARNER_WEB_PORT": str(self.port + 1),
            "STREAMAPP_DATADIR": str(workdir),
        }
        self.worker = self._spawn("worker", env, workdir)
        if with_learner:
            self.learner = self._spawn("learner", env, workdir)

    @staticmethod
    def _spawn(command: str, env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "streamapp.cli.main", command, "--loglevel", "warning"],
            env=env,
            stdout=(workdir / f"{command}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    async def model_served(self, timeout: float = 90.0) -> None:
        """Wait until the worker serves a learned model with ranker weights."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = await asyncio.to_thread(self.served_model)
            if served["served_model_version"] and served["served_ranker_features"]:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"the worker serves no learned model after {timeout} s")

    def served_model(self) -> dict[str, Any]:
        """What the worker serves at the end: the model version and how many ranker features."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        version = re.search(r'streamapp_model_version_info\{version="([^"]*)"\}', text)
        features = re.search(r"^streamapp_model_ranker_features ([0-9.e+]+)$", text, re.M)
        return {
            "served_model_version": version[1] if version else None,
            "served_ranker_features": int(float(features[1])) if features else 0,
        }

    async def applied(self, client: AsyncRedis) -> int:
        """Interaction records applied so far (sum over partitions of last offset + 1)."""
        return sum(int(v) + 1 for v in await client.hvals(keys.app(self.settings.app_id, "wm")))

    async def throughput(
        self, warm: int, count: int, meter: CpuMeter
    ) -> tuple[float, dict[str, float]]:
        """Worker events/s over ``count`` waiting records after the first ``warm`` (untimed),
        from the first of them to the last applied, and the CPU microseconds each event cost
        every process meanwhile."""
        worker = self.worker
        assert worker is not None, "start the worker first"
        client = connect(self.settings)
        try:
            while await self.applied(client) <= warm:
                assert worker.poll() is None, "worker exited"
                await asyncio.sleep(0.005)
            first, cpu = await self.applied(client), await meter.read()
            started = time.perf_counter()
            while (done := await self.applied(client)) < warm + count:
                assert worker.poll() is None, "worker exited"
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            return (done - first) / elapsed, per_event(cpu, await meter.read(), done - first)
        finally:
            await client.aclose()

    async def history_fill(self, bound: int) -> float:
        """Mean length of the active users' histories as a share of their bound: how close the
        timed phases are to the steady state a shop lives in."""
        client = connect(self.settings)
        try:
            found = [
                k
                async for k in client.scan_iter(
                    match=keys.user(self.settings.app_id, "default", "*", "items"), count=1000
                )
            ]
            async with client.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.zcard(key)
                sizes = await pipe.execute()
            return round(statistics.fmean(sizes) / bound, 3) if sizes else 0.0
        finally:
            await client.aclose()

    async def freshness(
        self, producer: AIOKafkaProducer, rate: int, seconds: float, tail: Tail
    ) -> list[float]:
        """Produce at ``rate``/s; per event, ms until a list reflecting it is consumed.

        A list reflects an event when its trigger is that event or a later one of the same
        user (events of one user in one batch share a list).
        """
        topic = self.settings.topic("clicks")
        total = int(rate * seconds)
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            key, value = next(self.events)
            tail.expect(key, orjson.loads(value)["event_id"], time.perf_counter())
            await producer.send(topic, value, key=key.encode())
        await producer.flush()
        await tail.wait(lambda: len(tail.fresh) >= total, 30)
        return list(tail.fresh)

    async def sustained(
        self,
        producer: AIOKafkaProducer,
        rates: list[int],
        seconds: float,
        tail: Tail,
        meter: CpuMeter,
    ) -> list[dict[str, Any]]:
        """Freshness at each rate in turn (2 s untimed, then ``seconds`` timed), until one's p99
        passes the objective or its lists do not arrive within 30 s of the last event."""
        steps = []
        for rate in rates:
            step: dict[str, Any] = {"rate_per_s": rate}
            try:
                await self.freshness(producer, rate, 2.0, tail)
                tail.fresh.clear()
                before = await meter.read()
                fresh = await self.freshness(producer, rate, seconds, tail)
                step["cpu_us_per_event"] = per_event(before, await meter.read(), len(fresh))
                step["p50_ms"] = round(percentile(fresh, 50), 2)
                step["p99_ms"] = round(percentile(fresh, 99), 2)
            except TimeoutError:
                step["p99_ms"] = None  # fell behind: the lists never caught up
            tail.fresh.clear()
            tail.pending.clear()
            steps.append(step)
            if not within_objective(step):
                break
        return steps

    async def invalidation(
        self,
        producer: AIOKafkaProducer,
        stockouts: int,
        tail: Tail,
        widest: bool,
        block: bool = False,
    ) -> tuple[list[float], list[int]]:
        """Stock-outs of items in current lists → all affected users corrected, in ms; with
        ``block``, block rules on those items instead (written to the rules topic as
        `streamapp rules add` writes them).

        Items are drawn uniformly (seeded) from those in the current lists — the typical case —
        or, with ``widest``, the item shown to most users each time (the stress case: every
        one of those users needs a new list). Affected-user counts come back with the latencies.
        """
        chooser = random.Random(7)
        latencies, affected_counts = [], []
        for n in range(stockouts):
            current = tail.current()
            counts: dict[str, int] = {}
            for items in current.values():
                for shown_item in items:
                    counts[shown_item] = counts.get(shown_item, 0) + 1
            ordered = sorted(counts, key=lambda i: (-counts[i], i))
            item = ordered[0] if widest else chooser.choice(ordered)
            affected = {u for u, items in current.items() if item in items}
            started = time.perf_counter()
            if block:
                event_id = await self._block(producer, item, f"{n}-{int(widest)}")
            else:
                event_id = f"{self.run}-oos-{n}-{int(widest)}"
                stock_out = {
                    "event_id": event_id,
                    "item_id": item,
                    "stock": 0,
                    "ts": int(time.time() * 1000),
                }
                await producer.send_and_wait(
                    self.settings.topic("inventory"), orjson.dumps(stock_out), key=item.encode()
                )
            await tail.wait(lambda a=affected, e=event_id: a <= tail.corrected.get(e, set()), 30)
            latencies.append((tail.corrected_at[event_id] - started) * 1000)
            affected_counts.append(len(affected))
        return latencies, affected_counts

    async def _block(self, producer: AIOKafkaProducer, item: str, name: str) -> str:
        """Publish a block rule on ``item``; returns the id its corrected lists carry."""
        rule_id, ts = f"bench-{self.run}-{name}", int(time.time() * 1000)
        rule = {
            "rule_id": rule_id,
            "tenant": "default",
            "action": "block",
            "target": {"item_id": item},
            "author": "streamapp bench",
            "reason": "timing a block",
            "ts": ts,
        }
        await producer.send_and_wait(
            self.settings.topic("rules"), orjson.dumps(rule), key=rule_id.encode()
        )
        return f"rule:{rule_id}:{ts}"


class Tail:
    """Consumes the recommendations topic in the background, timing each arrival."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = AIOKafkaConsumer(
            settings.topic("recommendations"),
            **kafka_options(settings),
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        self.pending: dict[str, list[tuple[str, float]]] = {}
        self.fresh: list[float] = []
        self.lists: dict[str, list[str]] = {}
        self.corrected: dict[str, set[str]] = {}
        self.corrected_at: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.seek_to_end()
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.consumer.stop()

    async def _run(self) -> None:
        """The records of one ``getmany`` are timed together, when it hands them over: timing
        each after decoding the ones before it would add this process's own work to every
        burst of lists."""
        while True:
            fetched = await self.consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in fetched.values():
                for record in records:
                    self._arrived(record.value, now)

    def _arrived(self, value: bytes, now: float) -> None:
        message = orjson.loads(value)
        trigger = message["trigger"]
        user = message["user_id"]
        self.lists[user] = [i["item_id"] for i in message["items"]]
        pending = self.pending.get(user, [])
        ids = [event_id for event_id, _ in pending]
        if trigger["event_id"] in ids:
            upto = ids.index(trigger["event_id"]) + 1
            self.fresh += [(now - sent) * 1000 for _, sent in pending[:upto]]
            del pending[:upto]
        if trigger["reason"] in ("stock_out", "rule"):
            self.corrected.setdefault(trigger["event_id"], set()).add(message["user_id"])
            self.corrected_at[trigger["event_id"]] = now

    def expect(self, user: str, event_id: str, sent: float) -> None:
        self.pending.setdefault(user, []).append((event_id, sent))

    def current(self) -> dict[str, list[str]]:
        return dict(self.lists)

    async def wait(self, condition: Any, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("benchmark condition not met in time")
            await asyncio.sleep(0.001)


async def run_bench(
    base: Settings,
    rate: int,
    seconds: float,
    max_events: int,
    stockouts: int,
    with_learner: bool = True,
    tracing_sample: float | None = None,
    warmup: float = 10.0,
    rates: list[int] | None = None,
    step_seconds: float = 5.0,
    users: int = USERS,
    warm_events: int = WARM_EVENTS,
) -> dict[str, Any]:
    """Run all phases and return the figures (see the module docstring).

    With ``tracing_sample`` the worker traces that share of events and exports them over
    OTLP/HTTP to a receiver in this process, paying the whole cost a real deployment pays.
    """
    async with contextlib.AsyncExitStack() as stack:
        tracing: dict[str, str] = {}
        receiver = None
        if tracing_sample is not None:
            receiver = await stack.enter_async_context(OtlpReceiver())
            tracing = {
                "STREAMAPP_TRACING": "otlp",
                "STREAMAPP_TRACING_ENDPOINT": receiver.endpoint,
                "STREAMAPP_TRACING_SAMPLE": str(tracing_sample),
            }
        result = await _phases(
            base,
            rate,
            seconds,
            warmup,
            max_events,
            stockouts,
            with_learner,
            tracing,
            RATES if rates is None else rates,
            step_seconds,
            users,
            warm_events,
        )
        result["tracing_sample"] = tracing_sample
        result["spans_exported"] = len(receiver.spans()) if receiver else 0
        return result


async def _phases(
    base: Settings,
    rate: int,
    seconds: float,
    warmup: float,
    max_events: int,
    stockouts: int,
    with_learner: bool,
    worker_env: dict[str, str],
    rates: list[int],
    step_seconds: float,
    users: int,
    warm_events: int,
) -> dict[str, Any]:
    bench = Bench(base, users)
    await bench.setup()
    workdir = Path(base.datadir) / f"bench{bench.run}"
    workdir.mkdir(parents=True, exist_ok=True)
    producer = AIOKafkaProducer(**kafka_options(base), linger_ms=2)
    await producer.start()
    tail = Tail(bench.settings)
    redis_client = connect(bench.settings)
    try:
        await bench.produce(producer, warm_events + max_events)
        # The event log and clients stay to the end: keep this process's own collections short,
        # or its pauses would be timed as the worker's latency.
        tune_collector()
        bare = await bench.bare_consumer(max_events)
        bench.start(workdir, with_learner, worker_env)
        assert bench.worker is not None
        pids = {"worker": bench.worker.pid, "broker": broker_pid()}
        if bench.learner is not None:
            pids["learner"] = bench.learner.pid
        meter = CpuMeter(redis_client, pids)
        worker_rate, catch_up_cpu = await bench.throughput(warm_events, max_events, meter)
        fill = await bench.history_fill(base.user_items_max)
        if with_learner:
            await bench.model_served()
        await tail.start()
        if warmup > 0:
            await bench.freshness(producer, rate, warmup, tail)
            tail.fresh.clear()
        before = await meter.read()
        fresh = await bench.freshness(producer, rate, seconds, tail)
        steady_cpu = per_event(before, await meter.read(), len(fresh))
        tail.fresh.clear()
        steps = await bench.sustained(producer, rates, step_seconds, tail, meter)
        invalid, affected = await bench.invalidation(producer, stockouts, tail, widest=False)
        widest, widest_affected = await bench.invalidation(producer, stockouts, tail, widest=True)
        blocks, block_affected = await bench.invalidation(
            producer, stockouts, tail, widest=False, block=True
        )
        served = await asyncio.to_thread(bench.served_model)
        async with Store(bench.settings) as store:
            app = bench.settings.app_id
            user_keys, user_bytes = await memory_usage(
                store.redis, keys.tenant(app, "default", "u", "*")
            )
            _, item_bytes = await memory_usage(
                store.redis, keys.tenant(app, "default", "item", "*")
            )
            items, cv_bytes = await memory_usage(
                store.redis, keys.tenant(app, "default", "cv", "*")
            )
            _, shown_bytes = await memory_usage(
                store.redis, keys.tenant(app, "default", "shown", "*")
            )
            active = len(
                {
                    k.split(b":")[3]
                    async for k in store.redis.scan_iter(
                        match=keys.user(app, "default", "*", "items"), count=1000
                    )
                }
            )
    finally:
        await redis_client.aclose()
        await tail.stop()
        await producer.stop()
        await bench.teardown()
    passed = [step["rate_per_s"] for step in steps if within_objective(step)]
    return {
        "learner_running": with_learner,
        **served,
        "freshness_rate_per_s": rate,
        "freshness_warmup_s": warmup,
        "freshness_events": len(fresh),
        "freshness_p50_ms": round(percentile(fresh, 50), 2),
        "freshness_p99_ms": round(percentile(fresh, 99), 2),
        "freshness_mean_ms": round(statistics.fmean(fresh), 2),
        "cpu_us_per_event_at_rate": steady_cpu,
        "cpu_us_per_event_catch_up": catch_up_cpu,
        "sustained_rate_per_s": max(passed, default=0),
        "rate_steps": steps,
        "history_fill": fill,
        "invalidation_stockouts": len(invalid),
        "invalidation_p50_ms": round(percentile(invalid, 50), 2),
        "invalidation_p99_ms": round(percentile(invalid, 99), 2),
        "invalidation_affected_users_mean": round(statistics.fmean(affected), 1),
        "invalidation_affected_users_max": max(affected),
        "invalidation_widest_p50_ms": round(percentile(widest, 50), 2),
        "invalidation_widest_p99_ms": round(percentile(widest, 99), 2),
        "invalidation_widest_affected_users_mean": round(statistics.fmean(widest_affected), 1),
        "block_rules": len(blocks),
        "block_p50_ms": round(percentile(blocks, 50), 2),
        "block_p99_ms": round(percentile(blocks, 99), 2),
        "block_affected_users_mean": round(statistics.fmean(block_affected), 1),
        "worker_events_per_s": round(worker_rate),
        "bare_consumer_events_per_s": round(bare),
        "throughput_ratio": round(worker_rate / bare, 3),
        "throughput_events": max_events,
        "warm_events": warm_events,
        "users": users,
        "redis_bytes_per_user": round(user_bytes / max(1, active)),
        "redis_bytes_per_item": round((item_bytes + cv_bytes + shown_bytes) / max(1, items)),
        "active_users": active,
        "user_keys": user_keys,
        "items": items,
    }
