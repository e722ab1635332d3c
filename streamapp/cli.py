"""``streamapp`` command line: worker, topics, lag, replay, watch, bench."""

from __future__ import annotations

import os

# One BLAS thread: a matrix-vector product per query is faster on one thread than the cost of
# waking OpenBLAS's pool on a shared 2-vCPU machine (≈8 ms per query measured). Must be set
# before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

import orjson

from streamapp.settings import get_settings


def _worker(args: argparse.Namespace) -> int:
    from streamapp.app import create_app, run

    run(create_app(get_settings()), args.loglevel)
    return 0


def _learner(args: argparse.Namespace) -> int:
    from streamapp.app import create_learner_app, run

    settings = get_settings()
    # Training must never delay serving: where they share cores, the worker goes first.
    os.nice(settings.learner_nice)
    run(create_learner_app(settings), args.loglevel)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from streamapp.topics import TopicAdmin, load_specs

    settings = get_settings()

    async def run() -> int:
        specs = load_specs(settings)
        async with TopicAdmin(settings) as admin:
            if args.action == "apply":
                changes = await admin.apply(specs)
                for line in changes or ["topics already match topics/"]:
                    print(line)
                return 0
            drifts = await admin.diff(specs)
            for drift in drifts:
                print(drift)
            if not drifts:
                print(f"{len(specs)} topics match topics/")
            return 1 if drifts else 0

    return asyncio.run(run())


def _lag(args: argparse.Namespace) -> int:
    from streamapp.events import now_ms
    from streamapp.lag import LagReader, PartitionLag

    settings = get_settings()
    group = args.group or settings.app_id

    def table(rows: list[PartitionLag], now: int) -> str:
        lines = [
            f"{'TOPIC':<24} {'PARTITION':>9} {'COMMITTED':>12} {'END':>12} {'LAG':>9} {'LAG_S':>9}"
        ]
        lines += [
            f"{r.topic:<24} {r.partition:>9} {r.committed:>12} {r.end:>12} {r.lag:>9} "
            f"{r.seconds(now):>9.1f}"
            for r in rows
        ]
        return "\n".join(lines)

    async def run() -> int:
        async with LagReader(settings.kafka_bootstrap) as reader:
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

    from streamapp.events import now_ms
    from streamapp.lag import LagReader, export

    settings = get_settings()
    groups = args.group or [settings.app_id, f"{settings.app_id}-learner"]
    start_http_server(args.port, addr=args.host)
    print(f"lag-exporter: groups {', '.join(groups)} on http://{args.host}:{args.port}/metrics")

    async def run() -> None:
        async with LagReader(settings.kafka_bootstrap, "streamapp-lag-exporter") as reader:
            while True:
                for group in groups:
                    export(group, await reader.group_lag(group), now_ms())
                await asyncio.sleep(args.interval)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


def _replay(args: argparse.Namespace) -> int:
    from streamapp import datasets
    from streamapp.replay import replay

    log = datasets.load(args.format, Path(args.path) if args.path else None)
    if args.limit:
        log = log[-args.limit :]
    counts = asyncio.run(
        replay(
            get_settings(),
            log,
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
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        await consumer.start()
        shown = 0
        try:
            async for record in consumer:
                message = orjson.loads(record.value)
                trigger = message["trigger"]
                latency = record.timestamp - trigger["input_ts"]
                items = " ".join(f"{i['item_id']}({i['source'][:3]})" for i in message["items"][:5])
                print(
                    f"user={message['user_id']:<10} latency={latency:>5}ms "
                    f"model={message['model_version']:<24} "
                    f"reason={trigger['reason']:<11} items: {items}",
                    flush=True,
                )
                shown += 1
                if args.count and shown >= args.count:
                    return
        finally:
            await consumer.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _bench(args: argparse.Namespace) -> int:
    from streamapp.bench import run_bench

    result = asyncio.run(
        run_bench(
            get_settings(),
            rate=args.rate,
            seconds=args.seconds,
            max_events=args.max_events,
            stockouts=args.stockouts,
            with_learner=not args.no_learner,
            tracing_sample=args.tracing_sample,
            warmup=args.warmup,
        )
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from streamapp import datasets
    from streamapp.evaluate import evaluate, markdown, write

    if args.ips:
        return _ips(args)
    log = datasets.load(args.format, Path(args.events) if args.events else None)
    if args.limit:
        log = log[: args.limit]
    report = asyncio.run(
        evaluate(get_settings(), log, k=10, train_fraction=args.train_fraction, seed=args.seed)
    )
    paths = write(report, Path(args.out))
    print(markdown(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _bench_retrieval(args: argparse.Namespace) -> int:
    from streamapp.retrieval import measure

    sizes = [int(s) for s in args.sizes.split(",")]
    for row in measure(sizes, dim=args.dim, search_k=args.search_k):
        print(orjson.dumps(row).decode(), flush=True)
    return 0


def _model(args: argparse.Namespace) -> int:
    from streamapp.store import Store

    async def run() -> int:
        async with Store(get_settings()) as store:
            if args.action == "list":
                current = await store.promoted_version()
                for meta in await store.snapshot_metas():
                    mark = "*" if meta["version"] == current else " "
                    print(f"{mark} {orjson.dumps(meta).decode()}")
            elif args.action == "promote":
                await store.promote(args.version)
                print(f"promoted {args.version}")
            else:
                print(f"promoted {await store.rollback() or 'nothing (hand-weighted ranking)'}")
        return 0

    return asyncio.run(run())


def _bench_snapshot(args: argparse.Namespace) -> int:
    from streamapp.snapshots import measure

    for items in (int(n) for n in args.items.split(",")):
        print(orjson.dumps(measure(items, args.dim)).decode(), flush=True)
    return 0


def _ips(args: argparse.Namespace) -> int:
    import functools
    from dataclasses import asdict

    from streamapp import counterfactual as cf
    from streamapp.audit_log import impressions
    from streamapp.store import Store

    settings = get_settings()
    logged = asyncio.run(impressions(settings, args.window))
    policy: cf.Policy
    if args.policy == "exploration":
        share = args.exploration
        described = f"explore the last slot in {share:.0%} of lists"
        policy = functools.partial(cf.exploration_policy, share=share)
    elif args.policy == "weights":
        weights = orjson.loads(args.weights)
        described = f"rank by hand weights {weights}"
        policy = cf.greedy_policy(cf.weights_scorer(weights))
    else:

        async def promoted() -> tuple[str, dict[str, float]]:
            async with Store(settings) as store:
                version = args.version or await store.promoted_version()
                if version is None:
                    raise SystemExit("streamapp: no promoted snapshot; pass --version")
                return version, (await store.load_snapshot(version)).ranker

        version, ranker = asyncio.run(promoted())
        described = f"rank by the learned ranker of snapshot {version}"
        policy = cf.greedy_policy(cf.ranker_scorer(ranker))
    if args.policy != "exploration":
        # Rankings are compared on the last slot's action set, which older records lack.
        logged = [i for i in logged if i.slot]
    if not logged:
        print(
            "streamapp: no audited lists to evaluate (is STREAMAPP_AUDIT_SAMPLE_RATE > 0?)",
            file=sys.stderr,
        )
        return 1
    estimate = cf.estimate(logged, policy)
    print(
        orjson.dumps(
            {
                "policy": described,
                "impressions": len(logged),
                "clicked": sum(i.clicked for i in logged),
                "logged_click_rate": sum(i.clicked for i in logged) / len(logged),
                **asdict(estimate),
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamapp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run the stream worker (Faust)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=_worker)

    learner = sub.add_parser("learner", help="run the online learner (its own consumer group)")
    learner.add_argument("--loglevel", default="info")
    learner.set_defaults(func=_learner)

    topics = sub.add_parser("topics", help="create/alter topics from topics/ or check drift")
    topics.add_argument("action", choices=["apply", "check"])
    topics.set_defaults(func=_topics)

    lag = sub.add_parser("lag", help="consumer lag per topic/partition, from the broker")
    lag.add_argument("--group", help="consumer group (default: the app id)")
    lag.add_argument("--json", action="store_true", help="one JSON array per reading")
    lag.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    lag.add_argument("--interval", type=float, default=2.0, help="seconds between readings")
    lag.set_defaults(func=_lag)

    exporter = sub.add_parser(
        "lag-exporter", help="serve consumer lag of any groups as Prometheus metrics"
    )
    exporter.add_argument(
        "--group",
        action="append",
        help="consumer group, repeatable (default: the worker's and the learner's)",
    )
    exporter.add_argument("--host", default="127.0.0.1")
    exporter.add_argument("--port", type=int, default=6068)
    exporter.add_argument("--interval", type=float, default=5.0)
    exporter.set_defaults(func=_lag_exporter)

    rp = sub.add_parser("replay", help="publish a real event log (and derived inventory)")
    rp.add_argument(
        "--dataset", dest="format", choices=["taobao", "rees46", "csv"], default="taobao"
    )
    rp.add_argument("--path", help="log file (default: the dataset in ../shared/datasets)")
    rp.add_argument(
        "--speed", type=float, default=0.0, help="N × real time; 0 = as fast as possible"
    )
    rp.add_argument("--limit", type=int, default=0, help="only the last N events")
    rp.add_argument("--initial-stock", type=int, default=3)
    rp.add_argument(
        "--restock-after",
        type=float,
        default=6 * 3600.0,
        help="log seconds from stock-out to restock",
    )
    rp.add_argument("--run-id", help="event id prefix (default: random, so re-runs are new)")
    rp.set_defaults(func=_replay)

    watch = sub.add_parser("watch", help="print recommendations as they arrive")
    watch.add_argument("--count", type=int, default=0, help="stop after N messages")
    watch.set_defaults(func=_watch)

    ev = sub.add_parser("evaluate", help="prequential ranking quality on an event log")
    ev.add_argument("--events", help="log file (default: the dataset in ../shared/datasets)")
    ev.add_argument("--format", choices=["taobao", "rees46", "csv"], default="taobao")
    ev.add_argument("--limit", type=int, default=0, help="only the first N events")
    ev.add_argument(
        "--train-fraction",
        type=float,
        default=0.0,
        help="learn on the first X of the log (by time) before testing",
    )
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", default="eval-results", help="folder for JSON, markdown, PNG")
    ev.add_argument(
        "--ips",
        action="store_true",
        help="off-policy: estimate the last slot's click rate under --policy from the audit log",
    )
    ev.add_argument(
        "--policy",
        choices=["exploration", "weights", "ranker"],
        default="exploration",
        help="with --ips: the candidate policy: an exploration share, hand weights, or the "
        "learned ranker of a snapshot",
    )
    ev.add_argument(
        "--weights",
        default="{}",
        help='with --policy weights: JSON, e.g. \'{"covisit": 1, "recent": 2}\'',
    )
    ev.add_argument(
        "--version", help="with --policy ranker: the snapshot (default: the promoted one)"
    )
    ev.add_argument(
        "--exploration",
        type=float,
        default=0.0,
        help="with --ips: the candidate policy's exploration share",
    )
    ev.add_argument(
        "--window",
        type=float,
        default=600.0,
        help="with --ips: seconds after a list in which an interaction counts",
    )
    ev.set_defaults(func=_evaluate)

    bench = sub.add_parser("bench", help="freshness, invalidation and throughput benchmark")
    bench.add_argument("--rate", type=int, default=1000, help="steady events/s for freshness")
    bench.add_argument("--seconds", type=float, default=10.0)
    bench.add_argument(
        "--warmup", type=float, default=10.0, help="seconds at --rate before freshness is timed"
    )
    bench.add_argument(
        "--max-events", type=int, default=100_000, help="events for the max-throughput phase"
    )
    bench.add_argument("--stockouts", type=int, default=20)
    bench.add_argument("--no-learner", action="store_true", help="run the worker alone")
    bench.add_argument(
        "--tracing-sample",
        type=float,
        help="trace this share of events (0-1), exported over OTLP; tracing is off without it",
    )
    bench.set_defaults(func=_bench)
    model = sub.add_parser("model", help="list, promote or roll back model snapshots")
    model.add_argument("action", choices=["list", "promote", "rollback"])
    model.add_argument("version", nargs="?")
    model.set_defaults(func=_model)

    bs = sub.add_parser("bench-snapshot", help="snapshot size and load time")
    bs.add_argument("--items", default="10000,100000")
    bs.add_argument("--dim", type=int, default=32)
    bs.set_defaults(func=_bench_snapshot)

    br = sub.add_parser("bench-retrieval", help="Annoy vs exact search: recall and latency")
    br.add_argument("--sizes", default="1000,10000,100000")
    br.add_argument("--dim", type=int, default=32)
    br.add_argument("--search-k", type=int, default=5000)
    br.set_defaults(func=_bench_retrieval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from aiokafka.errors import KafkaConnectionError
    from redis.exceptions import ConnectionError as RedisConnectionError

    settings = get_settings()
    try:
        code: int = args.func(args)
    except RedisConnectionError as exc:
        print(
            f"streamapp: Redis is not reachable at {settings.redis_url} ({exc}); "
            "start the local stack with `make up`",
            file=sys.stderr,
        )
        return 2
    except KafkaConnectionError as exc:
        print(
            f"streamapp: Kafka is not reachable at {settings.kafka_bootstrap} ({exc}); "
            "start the local stack with `make up`",
            file=sys.stderr,
        )
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
