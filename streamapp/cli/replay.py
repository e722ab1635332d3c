"""``streamapp datasets``, ``streamapp replay`` and ``streamapp watch``: real event logs into
the topics, and the lists that come out (what the demo runs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import orjson

from streamapp.brokers import kafka_options
from streamapp.cli.parsing import KAFKA, Commands, load_log, with_dataset
from streamapp.settings import get_settings


def _datasets(args: argparse.Namespace) -> int:
    from streamapp import datasets

    for name in args.name or sorted(datasets.NAMED_LOGS):
        print(f"{name:<8} {datasets.locate(name)}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from streamapp.datasets.replay import replay

    counts = asyncio.run(
        replay(
            get_settings(),
            load_log(args),
            speed=args.speed,
            initial_stock=args.initial_stock,
            restock_after_s=args.restock_after,
            run_id=args.run_id,
        )
    )
    print(orjson.dumps(counts).decode())
    return 0


def _watch(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    settings = get_settings()

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            settings.topic("recommendations"),
            **kafka_options(settings),
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        await consumer.start()
        shown = 0
        try:
            async for record in consumer:
                print(_line(orjson.loads(record.value), record.timestamp), flush=True)
                shown += 1
                if args.count and shown >= args.count:
                    return
        finally:
            await consumer.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _line(message: dict, published_ms: int) -> str:
    """One list as ``watch`` prints it: user, latency from its cause, model, reason, top 5."""
    trigger = message["trigger"]
    latency = published_ms - trigger["input_ts"]
    items = " ".join(f"{i['item_id']}({i['source'][:3]})" for i in message["items"][:5])
    return (
        f"user={message['user_id']:<10} latency={latency:>5}ms "
        f"model={message['model_version']:<24} "
        f"reason={trigger['reason']:<11} items: {items}"
    )


def register(commands: Commands) -> None:
    ds = commands.add(
        "datasets",
        "where the named event logs are, or why one cannot be read",
        _datasets,
        reads=("datasets_dir",),
    )
    ds.add_argument("name", nargs="*", help="logs to locate (default: all: rees46, taobao)")

    rp = commands.add(
        "replay",
        "publish a real event log, with derived inventory, to the topics",
        _replay,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "app_id", "datasets_dir"),
    )
    with_dataset(rp)
    rp.add_argument(
        "--speed", type=float, default=0.0, help="N × real time; 0 = as fast as possible"
    )
    rp.add_argument(
        "--initial-stock", type=int, default=3, help="units an item has when it first appears"
    )
    rp.add_argument(
        "--restock-after",
        type=float,
        default=6 * 3600.0,
        help="log seconds from a stock-out to its restock",
    )
    rp.add_argument("--run-id", help="event id prefix (default: random, so re-runs are new)")

    watch = commands.add(
        "watch",
        "print recommendations as they arrive",
        _watch,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix"),
    )
    watch.add_argument("--count", type=int, default=0, help="stop after N lists (0: never)")
