"""The ``streamapp`` command: one sub-command per job, parsed here and run by the domain modules.

Sub-commands import what they need when they run, so ``streamapp lag`` does not load Faust.
Errors a user can fix (:mod:`streamapp.errors`, a bad setting, a service that does not answer)
end as one line on stderr and exit code 2; anything else keeps its traceback.
"""

from __future__ import annotations

import os

# One BLAS thread: a matrix-vector product per query is faster on one thread than the cost of
# waking OpenBLAS's pool on a shared 2-vCPU machine (≈8 ms per query measured). Must be set
# before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable
from importlib.metadata import version as installed_version
from pathlib import Path

import orjson
from pydantic import ValidationError
from pydantic_settings import SettingsError

from streamapp.errors import UsageError
from streamapp.settings import Settings, get_settings, redact


def _worker(args: argparse.Namespace) -> int:
    from streamapp.worker.app import create_app, run

    run(create_app(get_settings()), args.loglevel)
    return 0


def _learner(args: argparse.Namespace) -> int:
    from streamapp.worker.app import create_learner_app, run

    settings = get_settings()
    # Training must never delay serving: where they share cores, the worker goes first.
    os.nice(settings.learner_nice)
    run(create_learner_app(settings), args.loglevel)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from streamapp.ops.topics import TopicAdmin, load_specs

    settings = get_settings()

    async def run() -> int:
        specs = load_specs(settings)
        async with TopicAdmin(settings) as admin:
            if args.action == "apply":
                changes = await admin.apply(specs)
                for line in changes or ["topics already match the declarations"]:
                    print(line)
                return 0
            drifts = await admin.diff(specs)
            for drift in drifts:
                print(drift)
            if not drifts:
                print(f"{len(specs)} topics match the declarations")
            return 1 if drifts else 0

    return asyncio.run(run())


def _lag(args: argparse.Namespace) -> int:
    from streamapp.clock import now_ms
    from streamapp.ops.lag import LagReader, PartitionLag

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

    from streamapp.clock import now_ms
    from streamapp.ops.lag import LagReader, export

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


def _datasets(args: argparse.Namespace) -> int:
    from streamapp import datasets

    for name in args.name or sorted(datasets.NAMED_LOGS):
        print(f"{name:<8} {datasets.locate(name)}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from streamapp import datasets
    from streamapp.datasets.replay import replay

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


def _evaluate(args: argparse.Namespace) -> int:
    from streamapp import datasets
    from streamapp.evaluation.prequential import evaluate, markdown, write

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
    from streamapp.learning.retrieval import measure

    sizes = [int(s) for s in args.sizes.split(",")]
    for row in measure(sizes, dim=args.dim, search_k=args.search_k):
        print(orjson.dumps(row).decode(), flush=True)
    return 0


def _model(args: argparse.Namespace) -> int:
    from streamapp.state.store import Store

    async def run() -> int:
        async with Store(get_settings()) as store:
            if args.action == "list":
                current = await store.promoted_version()
                for meta in await store.snapshot_metas():
                    mark = "*" if meta["version"] == current else " "
                    print(f"{mark} {orjson.dumps(meta).decode()}")
            elif args.action == "promote":
                try:
                    await store.promote(args.version)
                except KeyError:
                    raise UsageError(
                        f"no snapshot {args.version!r}; `streamapp model list` shows them"
                    ) from None
                print(f"promoted {args.version}")
            else:
                print(f"promoted {await store.rollback() or 'nothing (hand-weighted ranking)'}")
        return 0

    return asyncio.run(run())


def _bench_snapshot(args: argparse.Namespace) -> int:
    from streamapp.learning.snapshots import measure

    for items in (int(n) for n in args.items.split(",")):
        print(orjson.dumps(measure(items, args.dim)).decode(), flush=True)
    return 0


def _ips(args: argparse.Namespace) -> int:
    import functools
    from dataclasses import asdict

    from streamapp.evaluation import off_policy as cf
    from streamapp.evaluation.audit_log import impressions
    from streamapp.state.store import Store

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
                    raise UsageError("no promoted snapshot; pass --version")
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


def _settings(args: argparse.Namespace) -> int:
    for name, value in setting_values(get_settings()).items():
        print(f"{env_name(name)}={value}")
    return 0


def env_name(setting: str) -> str:
    """The environment variable of a setting.

    >>> env_name("kafka_bootstrap")
    'STREAMAPP_KAFKA_BOOTSTRAP'
    """
    return f"STREAMAPP_{setting.upper()}"


def setting_values(settings: Settings) -> dict[str, str]:
    """Every setting as the string its environment variable would take, passwords redacted."""
    out = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, dict | tuple | list | bool):
            text = orjson.dumps(value).decode()
        else:
            text = redact(str(value)) or "''"
        out[name] = text
    return out


# The settings each command reads, named in its help so that `--help` says how to point it at
# another cluster, Redis or data set (`streamapp settings` lists all of them).
CONNECT = ("kafka_bootstrap", "redis_url", "app_id", "topic_prefix", "tenants")
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "worker": (
        *CONNECT,
        "redis_timeout_s",
        "web_host",
        "web_port",
        "datadir",
        "top_k",
        "half_life_s",
        "weights",
        "score_weights",
        "learned_ranker",
        "exploration",
        "audit_sample_rate",
        "tracing",
    ),
    "learner": (
        *CONNECT,
        "learner_web_port",
        "datadir",
        "snapshot_interval_s",
        "learner_auto_promote",
        "mf_factors",
        "learner_nice",
    ),
    "topics": ("kafka_bootstrap", "topic_prefix", "topics_dir"),
    "lag": ("kafka_bootstrap", "app_id", "topic_prefix"),
    "lag-exporter": ("kafka_bootstrap", "app_id"),
    "datasets": ("datasets_dir",),
    "replay": ("kafka_bootstrap", "topic_prefix", "app_id", "datasets_dir"),
    "watch": ("kafka_bootstrap", "topic_prefix"),
    "evaluate": (
        "redis_url",
        "kafka_bootstrap",
        "datasets_dir",
        "half_life_s",
        "weights",
        "score_weights",
        "mf_factors",
        "mf_loss",
    ),
    "bench": ("kafka_bootstrap", "redis_url", "topic_prefix", "app_id", "datasets_dir", "datadir"),
    "model": ("redis_url", "app_id", "tenants"),
    "settings": (),
    "bench-snapshot": (),
    "bench-retrieval": (),
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every option's help; the environment epilogue kept as laid out."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # No default to show for a flag, for an option without one, or where the help says it.
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _epilog(command: str) -> str:
    names = ENVIRONMENT[command]
    if not names:
        return "reads no STREAMAPP_* setting"
    defaults = setting_values(Settings.model_construct())
    width = max(len(env_name(n)) for n in names)
    lines = [f"  {env_name(n):<{width}}  default {defaults[n]}" for n in names]
    return "environment (every setting: `streamapp settings`):\n" + "\n".join(lines)


# The services a command talks to, checked before it runs (streamapp.ops.preflight).
KAFKA, REDIS, BOTH = ("kafka",), ("redis",), ("kafka", "redis")


def _log_given_by(option: str) -> Callable[[argparse.Namespace], None]:
    """A check that the event log a command reads exists, run before any service is asked:
    a mistyped path is the cheaper thing to hear about."""

    def check(args: argparse.Namespace) -> None:
        from streamapp import datasets

        if not getattr(args, "ips", False):
            path = getattr(args, option)
            datasets.locate(args.format, Path(path) if path else None)

    return check


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamapp",
        description="Real-time recommendations on Kafka: run the worker and the learner, manage "
        "topics and models, read consumer lag, replay and evaluate event logs, benchmark.",
        epilog="Every setting is an environment variable STREAMAPP_<NAME>; "
        "`streamapp settings` prints them all with the values in effect.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {installed_version('streamapp')}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        summary: str,
        func: Callable[[argparse.Namespace], int],
        needs: tuple[str, ...] = (),
        validate: Callable[[argparse.Namespace], None] | None = None,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=_epilog(name),
            formatter_class=_HelpFormatter,
        )
        p.set_defaults(func=func, needs=needs, validate=validate)
        return p

    def with_loglevel(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--loglevel",
            default="info",
            choices=["debug", "info", "warning", "error"],
            help="least severe log records printed",
        )

    worker = command("worker", "run the stream worker: agents, HTTP API, metrics", _worker, BOTH)
    with_loglevel(worker)

    learner = command(
        "learner",
        "run the online learner (its own consumer group) and publish snapshots",
        _learner,
        BOTH,
    )
    with_loglevel(learner)

    topics = command(
        "topics",
        "make the cluster's topics match the declarations, or report drift",
        _topics,
        KAFKA,
    )
    topics.add_argument(
        "action",
        choices=["apply", "check"],
        help="apply: create topics, raise partitions, set configs; "
        "check: list differences and exit 1 if any",
    )

    lag = command("lag", "consumer lag per topic and partition, read from the broker", _lag, KAFKA)
    lag.add_argument("--group", help="consumer group (default: STREAMAPP_APP_ID)")
    lag.add_argument("--json", action="store_true", help="print one JSON array per reading")
    lag.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    lag.add_argument("--interval", type=float, default=2.0, help="seconds between readings")

    exporter = command(
        "lag-exporter",
        "serve the consumer lag of any groups as Prometheus metrics",
        _lag_exporter,
        KAFKA,
    )
    exporter.add_argument(
        "--group",
        action="append",
        help="consumer group, repeatable (default: the worker's and the learner's)",
    )
    exporter.add_argument("--host", default="127.0.0.1", help="address to serve /metrics on")
    exporter.add_argument("--port", type=int, default=6068, help="port to serve /metrics on")
    exporter.add_argument("--interval", type=float, default=5.0, help="seconds between readings")

    ds = command("datasets", "where the named event logs are, or why one cannot be read", _datasets)
    ds.add_argument("name", nargs="*", help="logs to locate (default: all: rees46, taobao)")

    rp = command(
        "replay", "publish a real event log, with derived inventory, to the topics", _replay
    )
    rp.add_argument(
        "--dataset",
        dest="format",
        choices=["taobao", "rees46", "csv"],
        default="taobao",
        help="log format; taobao and rees46 name logs in STREAMAPP_DATASETS_DIR",
    )
    rp.add_argument("--path", help="log file (required with --dataset csv)")
    rp.add_argument(
        "--speed", type=float, default=0.0, help="N × real time; 0 = as fast as possible"
    )
    rp.add_argument("--limit", type=int, default=0, help="only the last N events (0: all)")
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

    watch = command("watch", "print recommendations as they arrive", _watch, KAFKA)
    watch.add_argument("--count", type=int, default=0, help="stop after N lists (0: never)")

    ev = command(
        "evaluate",
        "prequential ranking quality of an event log",
        _evaluate,
        REDIS,
        _log_given_by("events"),
    )
    ev.add_argument("--events", help="log file (default: the named log of --format)")
    ev.add_argument(
        "--format", choices=["taobao", "rees46", "csv"], default="taobao", help="log format"
    )
    ev.add_argument("--limit", type=int, default=0, help="only the first N events (0: all)")
    ev.add_argument(
        "--train-fraction",
        type=float,
        default=0.0,
        help="learn on the first X of the log (by time) before testing",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the random baseline and MF")
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

    bench = command(
        "bench", "freshness, invalidation, throughput and memory benchmark", _bench, BOTH
    )
    bench.add_argument("--rate", type=int, default=1000, help="steady events/s for freshness")
    bench.add_argument("--seconds", type=float, default=10.0, help="seconds of timed freshness")
    bench.add_argument(
        "--warmup", type=float, default=10.0, help="seconds at --rate before freshness is timed"
    )
    bench.add_argument(
        "--max-events", type=int, default=100_000, help="events for the max-throughput phase"
    )
    bench.add_argument("--stockouts", type=int, default=20, help="stock-outs to time")
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

    model = command("model", "list, promote or roll back model snapshots", _model, REDIS)
    actions = model.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="snapshots, newest first; * marks the promoted one")
    promote = actions.add_parser("promote", help="serve a snapshot from now on")
    promote.add_argument("version", help="a version that `streamapp model list` shows")
    actions.add_parser("rollback", help="serve the snapshot promoted before the current one")

    command(
        "settings", "print every setting with the value in effect (passwords hidden)", _settings
    )

    bs = command("bench-snapshot", "snapshot size and load time", _bench_snapshot)
    bs.add_argument("--items", default="10000,100000", help="comma-separated item counts")
    bs.add_argument("--dim", type=int, default=32, help="vector dimensions")

    br = command(
        "bench-retrieval", "Annoy against exact search: recall and latency", _bench_retrieval
    )
    br.add_argument("--sizes", default="1000,10000,100000", help="comma-separated index sizes")
    br.add_argument("--dim", type=int, default=32, help="vector dimensions")
    br.add_argument("--search-k", type=int, default=5000, help="Annoy's search_k")
    return parser


def _bad_settings(error: ValidationError) -> str:
    """One line per invalid ``STREAMAPP_*`` value (the value shown only when it holds no
    password)."""
    problems = []
    for e in error.errors():
        name = env_name(str(e["loc"][0])) if e["loc"] else "STREAMAPP_*"
        given = e.get("input")
        shown = f"={redact(given)!r}" if isinstance(given, str) else ""
        problems.append(f"{name}{shown}: {e['msg']}")
    return "bad setting: " + "; ".join(problems)


def _unparsable_setting(error: SettingsError) -> str:
    """pydantic-settings names the field, not the variable a user set."""
    field = re.search(r'field "(\w+)"', str(error))
    name = env_name(field[1]) if field else "a STREAMAPP_* value"
    return f"bad setting: {name} is not valid JSON (mappings and lists take JSON)"


def _fail(message: str) -> int:
    print(f"streamapp: {message}", file=sys.stderr)
    return 2


def _explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line a user reads for an error they can fix; None for a bug."""
    from aiokafka.errors import KafkaConnectionError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from streamapp.ops.preflight import kafka_unreachable, redis_unreachable

    if isinstance(exc, UsageError):
        return str(exc)
    # A service that answered the check can still go away while a command runs.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return redis_unreachable(settings, exc)
    if isinstance(exc, KafkaConnectionError):
        return kafka_unreachable(settings, exc)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        return _fail(_bad_settings(exc))
    except SettingsError as exc:
        return _fail(_unparsable_setting(exc))
    try:
        if args.validate:
            args.validate(args)
        if args.needs:
            from streamapp.ops.preflight import check_services

            asyncio.run(check_services(settings, args.needs))
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _explain(exc, settings)
        if message is None:
            raise
        return _fail(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
