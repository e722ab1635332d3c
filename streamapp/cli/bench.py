"""``streamapp bench`` (end to end, or a soak), ``bench-snapshot`` and ``bench-retrieval``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import orjson

from streamapp.bench.defaults import RATES, USERS, WARM_EVENTS
from streamapp.cli.parsing import BOTH, Commands
from streamapp.settings import get_settings


def _bench(args: argparse.Namespace) -> int:
    from streamapp.bench.harness import run_bench

    if args.soak:
        return _soak(args)
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
            rates=None if args.rates is None else [int(r) for r in args.rates.split(",") if r],
            step_seconds=args.step_seconds,
            users=args.users,
            warm_events=args.warm_events,
        )
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def _soak(args: argparse.Namespace) -> int:
    from streamapp.bench.soak import run_soak

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run_soak(get_settings(), args.rate, args.soak, out))
    result.pop("samples")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"wrote {out / 'soak.json'}, {out / 'soak.png'}")
    return 0


def _bench_snapshot(args: argparse.Namespace) -> int:
    from streamapp.bench.measures import snapshot

    for items in (int(n) for n in args.items.split(",")):
        print(orjson.dumps(snapshot(items, args.dim)).decode(), flush=True)
    return 0


def _bench_retrieval(args: argparse.Namespace) -> int:
    from streamapp.bench.measures import retrieval

    sizes = [int(s) for s in args.sizes.split(",")]
    for row in retrieval(sizes, dim=args.dim, search_k=args.search_k):
        print(orjson.dumps(row).decode(), flush=True)
    return 0


def register(commands: Commands) -> None:
    bench = commands.add(
        "bench",
        "freshness, invalidation, throughput and memory benchmark",
        _bench,
        BOTH,
        ("kafka_bootstrap", "redis_url", "topic_prefix", "app_id", "datasets_dir", "datadir"),
    )
    bench.add_argument("--rate", type=int, default=1000, help="steady events/s for freshness")
    bench.add_argument("--seconds", type=float, default=10.0, help="seconds of timed freshness")
    bench.add_argument(
        "--warmup", type=float, default=10.0, help="seconds at --rate before freshness is timed"
    )
    bench.add_argument(
        "--max-events", type=int, default=100_000, help="events for the max-throughput phase"
    )
    bench.add_argument(
        "--warm-events",
        type=int,
        default=WARM_EVENTS,
        help="events applied before the max-throughput phase, untimed, to fill the histories",
    )
    bench.add_argument(
        "--users",
        type=int,
        default=USERS,
        help="shoppers the event log is folded onto (fewer: histories reach their bounds sooner)",
    )
    bench.add_argument("--stockouts", type=int, default=20, help="stock-outs to time")
    bench.add_argument(
        "--rates",
        help="comma-separated rates tried in turn for the highest one with freshness p99 within "
        f"50 ms (empty: skip; default: {','.join(map(str, RATES))})",
    )
    bench.add_argument(
        "--step-seconds", type=float, default=5.0, help="seconds timed at each of --rates"
    )
    bench.add_argument("--no-learner", action="store_true", help="run the worker alone")
    bench.add_argument(
        "--tracing-sample",
        type=float,
        help="trace this share of events (0-1), exported over OTLP; tracing is off without it",
    )
    bench.add_argument(
        "--soak",
        type=float,
        metavar="SECONDS",
        help="instead of the phases: --rate events/s with stock-outs for SECONDS, sampling the "
        "memory of the worker, the learner and Redis every 10 s",
    )
    bench.add_argument("--out", default="bench-results", help="folder for the soak's JSON and PNG")

    bs = commands.add("bench-snapshot", "snapshot size and load time", _bench_snapshot)
    bs.add_argument("--items", default="10000,100000", help="comma-separated item counts")
    bs.add_argument("--dim", type=int, default=32, help="vector dimensions")

    br = commands.add(
        "bench-retrieval", "Annoy against exact search: recall and latency", _bench_retrieval
    )
    br.add_argument("--sizes", default="1000,10000,100000", help="comma-separated index sizes")
    br.add_argument("--dim", type=int, default=32, help="vector dimensions")
    br.add_argument("--search-k", type=int, default=5000, help="Annoy's search_k")
