"""``streamapp experiment create|start|stop|list|report``: experiments as records of the
compacted ``experiments`` topic, which every worker follows, and their report."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from typing import Any

from streamapp.brokers import kafka_options
from streamapp.cli.parsing import KAFKA, Commands, read_yaml
from streamapp.clock import now_ms
from streamapp.errors import UsageError
from streamapp.settings import Settings, get_settings


async def _current(settings: Settings) -> dict[str, Any]:
    from streamapp.experiments.log import ExperimentLog

    topic = settings.topic("experiments")
    async with ExperimentLog(kafka_options(settings), topic, f"{settings.app_id}-cli") as log:
        return dict(log.definitions)


def _describe(experiment: Any) -> str:
    from streamapp.experiments.definition import planned_users

    variants = ", ".join(f"{v.name} {v.share:.0%}" for v in experiment.variants)
    low, high = experiment.traffic
    return (
        f"{experiment.experiment_id}  {experiment.status}  tenant={experiment.tenant} "
        f"layer={experiment.layer} traffic=[{low}, {high})  {variants}  "
        f"primary={experiment.document['primary_metric']}  "
        f"planned_users={planned_users(experiment)}"
    )


def _experiment(args: argparse.Namespace) -> int:
    settings = get_settings()
    document = read_yaml(Path(args.file)) if args.action == "create" else None

    async def run() -> dict[str, Any] | None:
        known = await _current(settings)
        if args.action == "list":
            for experiment in sorted(known.values(), key=lambda e: e.experiment_id):
                print(_describe(experiment))
        elif args.action == "create":
            await _create(settings, known, document, args)
        else:
            experiment = known.get(args.id)
            if experiment is None:
                raise UsageError(
                    f"no experiment {args.id!r}; `streamapp experiment list` shows them"
                )
            if args.action == "report":
                return await _report(settings, experiment, args)
            await _move(settings, known, experiment, args.action)
        return None

    body = asyncio.run(run())
    if body is not None:
        _show(body, args)
    return 0


async def _create(
    settings: Settings, known: dict[str, Any], document: Any, args: argparse.Namespace
) -> None:
    from streamapp.experiments.definition import InvalidExperiment, parse
    from streamapp.experiments.log import publish

    if not isinstance(document, dict):
        raise UsageError(f"{args.file}: an experiment is a mapping")
    document.update(status="draft", ts=now_ms())
    document.setdefault("author", args.author)
    try:
        experiment = parse(document)
    except InvalidExperiment as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if experiment.experiment_id in known:
        raise UsageError(f"experiment {experiment.experiment_id!r} exists; use a new id")
    if "baseline" not in document["plan"]:
        raise UsageError(f"{args.file}: plan.baseline is needed to plan the sample size")
    await publish(kafka_options(settings), settings.topic("experiments"), document)
    print(f"created {_describe(experiment)}")


async def _move(settings: Settings, known: dict[str, Any], experiment: Any, action: str) -> None:
    """Start a draft (unless it would share users of its layer) or stop a running one."""
    from streamapp.experiments.log import publish

    name = experiment.experiment_id
    if action == "start":
        if experiment.status != "draft":
            raise UsageError(f"{name} is {experiment.status}; only a draft starts")
        clash = [e.experiment_id for e in known.values() if e.running and e.overlaps(experiment)]
        if clash:
            raise UsageError(f"{name} would share users of its layer with {clash}")
        changes = {"status": "running", "started_at": now_ms()}
    else:
        if not experiment.running:
            raise UsageError(f"{name} is {experiment.status}; only a running one stops")
        changes = {"status": "stopped", "stopped_at": now_ms()}
    document = {**experiment.document, **changes, "ts": now_ms()}
    await publish(kafka_options(settings), settings.topic("experiments"), document)
    print(f"{'started' if action == 'start' else 'stopped'} {name}")


async def _report(settings: Settings, experiment: Any, args: argparse.Namespace) -> dict[str, Any]:
    from streamapp.experiments.report import pre_period, replay, report
    from streamapp.experiments.sources import read_timeline

    since = experiment.document.get("started_at") or 0
    pre_ms = int(args.pre * 1000)
    timeline = await read_timeline(settings, experiment.tenant, since, max(0, since - pre_ms))
    before, timeline = pre_period(timeline, since)
    return report(
        experiment,
        replay(
            experiment,
            timeline,
            int((args.window or settings.attribution_window_s) * 1000),
            args.looks,
            before,
        ),
    )


def _show(body: dict[str, Any], args: argparse.Namespace) -> None:
    import orjson

    from streamapp.experiments.report import plot, table

    if args.json:
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(table(body), end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
        (out / "report.md").write_text(table(body))
        plot(body, out / "lift.png")


def register(commands: Commands) -> None:
    experiment = commands.add(
        "experiment",
        "create, start, stop, list or report online experiments",
        _experiment,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "app_id"),
    )
    actions = experiment.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="check a definition (YAML), print its plan, publish it as a draft"
    )
    create.add_argument(
        "--file", required=True, help="the experiment, as schemas/experiment.v1.json"
    )
    create.add_argument("--author", default=getpass.getuser(), help="who creates it")
    start = actions.add_parser("start", help="assign users to the draft's variants from now on")
    start.add_argument("id", help="an experiment id that `streamapp experiment list` shows")
    stop = actions.add_parser("stop", help="stop assigning users; lists return to the defaults")
    stop.add_argument("id", help="an experiment id that `streamapp experiment list` shows")
    actions.add_parser("list", help="every experiment with its status and planned users")
    report = actions.add_parser(
        "report", help="exposures joined with outcomes, per variant; statistics and a decision"
    )
    report.add_argument("id", help="an experiment id that `streamapp experiment list` shows")
    report.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    report.add_argument("--out", help="also write report.json, report.md and lift.png here")
    report.add_argument(
        "--window",
        type=float,
        help="seconds after a list that count for it (default: STREAMAPP_ATTRIBUTION_WINDOW_S)",
    )
    report.add_argument("--looks", type=int, default=20, help="instants the statistics are read at")
    report.add_argument(
        "--pre",
        type=float,
        default=14 * 86400.0,
        help="seconds before the start whose purchases adjust conversion and revenue (CUPED; "
        "0: no adjustment)",
    )
