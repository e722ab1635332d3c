"""``streamapp lag`` and ``streamapp lag-exporter``: consumer lag, read from the broker."""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson

from streamapp.brokers import kafka_options
from streamapp.cli.parsing import KAFKA, Commands
from streamapp.settings import get_settings


def _lag(args: argparse.Namespace) -> int:
    from streamapp.clock import now_ms
    from streamapp.ops.lag import LagReader, table

    settings = get_settings()
    group = args.group or settings.app_id

    async def run() -> int:
        async with LagReader(kafka_options(settings)) as reader:
            while True:
                rows = await reader.group_lag(group)
                now = now_ms()
                if args.json:
                    print(orjson.dumps([r.as_dict(now) for r in rows]).decode(), flush=True)
                elif args.watch:
                    stamp = time.strftime("%H:%M:%S")
                    total = sum(r.lag for r in rows)
                    print(f"\x1b[H\x1b[2J{group} at {stamp}: {total} messages behind")
                    print(table(rows, now), flush=True)
                else:
                    print(table(rows, now))
                if not args.watch:
                    return 0
                await asyncio.sleep(args.interval)

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 0


def _lag_exporter(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from streamapp.clock import now_ms
    from streamapp.ops.lag import LagReader, export

    settings = get_settings()
    groups = args.group or [settings.app_id, settings.learner_group]
    start_http_server(args.port, addr=args.host)
    print(f"lag-exporter: groups {', '.join(groups)} on http://{args.host}:{args.port}/metrics")

    async def run() -> None:
        async with LagReader(kafka_options(settings), "streamapp-lag-exporter") as reader:
            while True:
                for group in groups:
                    export(group, await reader.group_lag(group), now_ms())
                await asyncio.sleep(args.interval)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


def register(commands: Commands) -> None:
    lag = commands.add(
        "lag",
        "consumer lag per topic and partition, read from the broker",
        _lag,
        KAFKA,
        ("kafka_bootstrap", "app_id", "topic_prefix"),
    )
    lag.add_argument("--group", help="consumer group (default: STREAMAPP_APP_ID)")
    lag.add_argument("--json", action="store_true", help="print one JSON array per reading")
    lag.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    lag.add_argument("--interval", type=float, default=2.0, help="seconds between readings")

    exporter = commands.add(
        "lag-exporter",
        "serve the consumer lag of any groups as Prometheus metrics",
        _lag_exporter,
        KAFKA,
        ("kafka_bootstrap", "app_id"),
    )
    exporter.add_argument(
        "--group",
        action="append",
        help="consumer group, repeatable (default: the worker's and the learner's)",
    )
    exporter.add_argument("--host", default="127.0.0.1", help="address to serve /metrics on")
    exporter.add_argument("--port", type=int, default=6068, help="port to serve /metrics on")
    exporter.add_argument("--interval", type=float, default=5.0, help="seconds between readings")
