"""``streamapp bench --soak SECONDS``: does memory flatten under a steady stream?

A worker and the learner (as ``streamapp bench`` starts them, on private topics and a private
Redis database) take real Taobao clicks at a steady rate with a stock-out every few seconds and
its restock later, for as long as asked. Every ``sample_s`` the resident memory of the worker
and of the learner (``/proc``) and Redis' ``used_memory`` are sampled. The result says how much
each grew over the last two thirds of the run: bounded structures show as a curve that rises
while the structures fill and then stays flat. The samples go to a JSON file and a PNG plot.

>>> growth([(0, 100.0), (10, 150.0), (20, 160.0), (30, 162.0)], since_s=10, window_s=5)
0.08
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from matplotlib.figure import Figure

from streamapp.bench.cpu import server_info
from streamapp.bench.harness import Bench
from streamapp.brokers import kafka_options
from streamapp.databases import connect
from streamapp.settings import Settings

__all__ = ["growth", "resident_bytes", "run_soak"]

# One stock-out every this many events, restocked this many events later.
STOCKOUT_EVERY = 2_000
RESTOCK_AFTER = 10_000


def resident_bytes(pid: int) -> int:
    """A process's resident set (VmRSS), in bytes.

    >>> import os
    >>> resident_bytes(os.getpid()) > 1_000_000
    True
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for pid {pid}")


def growth(samples: list[tuple[float, float]], since_s: float, window_s: float = 60.0) -> float:
    """Relative growth from ``since_s`` to the end, median of the first ``window_s`` of samples
    to median of the last (a snapshot's or a collection's spike is not a trend)."""
    later = [(at, value) for at, value in samples if at >= since_s]
    first = statistics.median(v for at, v in later if at <= later[0][0] + window_s)
    last = statistics.median(v for at, v in later if at >= later[-1][0] - window_s)
    return round((last - first) / first, 3)


async def run_soak(
    base: Settings, rate: int, seconds: float, out: Path, sample_s: float = 10.0
) -> dict[str, Any]:
    """Drive the worker and the learner for ``seconds``; returns the figures, writes
    ``soak.json`` and ``soak.png`` into the folder ``out`` (which must exist)."""
    bench = Bench(base)
    await bench.setup()
    workdir = Path(base.datadir) / f"soak{bench.run}"
    workdir.mkdir(parents=True, exist_ok=True)
    producer = AIOKafkaProducer(**kafka_options(base), linger_ms=2)
    await producer.start()
    client = connect(bench.settings)
    series: dict[str, list[tuple[float, float]]] = {"worker": [], "learner": [], "redis": []}
    try:
        bench.start(workdir, with_learner=True, extra={})
        await _ready(bench)
        started = time.monotonic()
        feeding = asyncio.create_task(_feed(bench, producer, rate, seconds))
        while not feeding.done():
            at = time.monotonic() - started
            assert bench.worker and bench.learner
            series["worker"].append((at, resident_bytes(bench.worker.pid)))
            series["learner"].append((at, resident_bytes(bench.learner.pid)))
            used = sum(info["used_memory"] for info in await server_info(client, "memory"))
            series["redis"].append((at, float(used)))
            await asyncio.wait({feeding}, timeout=sample_s)
        sent = feeding.result()
    finally:
        await client.aclose()
        await producer.stop()
        await bench.teardown()
    since = seconds / 3
    result = {
        "rate_per_s": rate,
        "seconds": seconds,
        "events_sent": sent,
        "sample_s": sample_s,
        "growth_since_s": round(since),
        **{f"{name}_growth": growth(points, since) for name, points in series.items()},
        **{f"{name}_last_mb": round(points[-1][1] / 2**20, 1) for name, points in series.items()},
        "samples": {name: points for name, points in series.items()},
    }
    (out / "soak.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    _plot(series, out / "soak.png", rate)
    return result


async def _ready(bench: Bench, timeout_s: float = 120.0) -> None:
    """Until the worker answers ``/readyz`` (it joined its group and holds partitions)."""
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{bench.port}/readyz"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            return False

    while not await asyncio.to_thread(ready):
        if time.monotonic() > deadline or (bench.worker and bench.worker.poll() is not None):
            raise TimeoutError(f"the worker is not ready after {timeout_s} s")
        await asyncio.sleep(0.5)


async def _feed(bench: Bench, producer: AIOKafkaProducer, rate: int, seconds: float) -> int:
    """Clicks at ``rate``/s with a stock-out every STOCKOUT_EVERY events (of an item just
    clicked) and its restock RESTOCK_AFTER events later; returns records sent."""
    clicks, inventory = bench.settings.topic("clicks"), bench.settings.topic("inventory")
    total = int(rate * seconds)
    out_of_stock: dict[int, str] = {}
    started = time.perf_counter()
    for n in range(total):
        if (delay := started + n / rate - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        key, value = next(bench.events)
        await producer.send(clicks, value, key=key.encode())
        if n % STOCKOUT_EVERY == 0:
            item = orjson.loads(value)["item_id"]
            out_of_stock[n + RESTOCK_AFTER] = item
            await _stock(producer, inventory, item, 0, f"{bench.run}-oos-{n}")
        if (item := out_of_stock.pop(n, None)) is not None:
            await _stock(producer, inventory, item, 5, f"{bench.run}-restock-{n}")
    await producer.flush()
    return total + 2 * (total // STOCKOUT_EVERY)


async def _stock(
    producer: AIOKafkaProducer, topic: str, item: str, stock: int, event_id: str
) -> None:
    value = {"event_id": event_id, "item_id": item, "stock": stock, "ts": int(time.time() * 1000)}
    await producer.send(topic, orjson.dumps(value), key=item.encode())


def _plot(series: dict[str, list[tuple[float, float]]], path: Path, rate: int) -> None:
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    for name, points in series.items():
        axes.plot([at / 60 for at, _ in points], [v / 2**20 for _, v in points], label=name)
    axes.set_xlabel("minutes")
    axes.set_ylabel("MiB (resident; Redis used_memory)")
    axes.set_title(f"soak at {rate} events/s with stock-outs")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.savefig(path, dpi=100, bbox_inches="tight")
