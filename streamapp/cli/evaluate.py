"""``streamapp evaluate`` (prequential ranking quality of an event log) and ``streamapp ips``
(off-policy estimates of another ranking policy from the audit log)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from streamapp.cli.parsing import BOTH, REDIS, Commands, load_log, read_yaml, with_dataset
from streamapp.errors import UsageError
from streamapp.settings import Settings, get_settings


def _evaluate(args: argparse.Namespace) -> int:
    from streamapp.evaluation.prequential import evaluate, markdown, write

    if not 0.0 <= args.tuning_part < 1.0:
        raise UsageError("--tuning-part is a fraction in [0, 1)")
    if args.tune and not args.tuning_part:
        raise UsageError("--tune chooses on the tuning part: give --tuning-part above 0")
    experiment = _experiment(Path(args.experiment)) if args.experiment else None
    settings, log, out = get_settings(), load_log(args), Path(args.out)
    tuned = _tune(settings, log, args.tuning_part, out) if args.tune else None
    if tuned is not None:
        settings = settings.model_copy(update=tuned.chosen)
    report = asyncio.run(
        evaluate(
            settings,
            log,
            k=10,
            tuning_part=args.tuning_part,
            seed=args.seed,
            experiment=experiment,
            ablations=args.ablations,
        )
    )
    if tuned is not None:
        report["tuned"] = {
            "chosen": tuned.chosen,
            "validation_events": tuned.validation_events,
            "rounds": tuned.rounds,
        }
    paths = write(report, out)
    print(markdown(report))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _tune(settings: Settings, log: list[Any], tuning_part: float, out: Path) -> Any:
    """The search on the tuning part; its choice written as ``tuned.env`` in ``out``."""
    from streamapp.evaluation.tuning import tune

    tuned = asyncio.run(tune(settings, log, tuning_part))
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuned.env").write_text(tuned.env())
    print(f"chosen on the tuning part ({tuned.validation_events:,} validation events):")
    print(tuned.env(), end="")
    print(f"wrote {out / 'tuned.env'} (load it with: set -a; . {out / 'tuned.env'}; set +a)")
    return tuned


def _experiment(path: Path) -> Any:
    """An experiment definition to deal the log's users by, as if it were running."""
    from streamapp.experiments.definition import InvalidExperiment, parse

    document = read_yaml(path)
    if not isinstance(document, dict):
        raise UsageError(f"{path}: an experiment is a mapping")
    try:
        return parse({"ts": 0, **document, "status": "running"})
    except InvalidExperiment as exc:
        raise UsageError(f"{path}: {exc}") from None


async def _promoted_ranker(
    settings: Settings, version: str | None, tenant: str
) -> tuple[str, dict]:
    from streamapp.learning.registry import ModelRegistry
    from streamapp.state.store import Store

    async with Store(settings) as store:
        registry = ModelRegistry(store)
        version = version or await registry.promoted_version()
        if version is None:
            raise UsageError("no promoted snapshot; pass --version")
        return version, (await registry.load(version)).ranker_of(tenant)


def _ips(args: argparse.Namespace) -> int:
    from streamapp.evaluation import off_policy
    from streamapp.evaluation.audit_log import impressions

    settings = get_settings()
    tenant = args.tenant or settings.tenants[0]
    if tenant not in settings.tenants:
        raise UsageError(f"unknown tenant {tenant!r}: not in STREAMAPP_TENANTS")
    weights, version = orjson.loads(args.weights), ""
    if args.policy == "ranker":
        version, weights = asyncio.run(_promoted_ranker(settings, args.version, tenant))
    described, policy = off_policy.candidate(args.policy, args.exploration, weights, version)
    logged = off_policy.comparable(asyncio.run(impressions(settings, args.window)), args.policy)
    logged = [i for i in logged if i.tenant == tenant]
    if not logged:
        print(
            "streamapp: no audited lists to evaluate (is STREAMAPP_AUDIT_SAMPLE_RATE > 0?)",
            file=sys.stderr,
        )
        return 1
    report = off_policy.report(logged, described, policy)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    return 0


def register(commands: Commands) -> None:
    ev = commands.add(
        "evaluate",
        "prequential ranking quality of an event log",
        _evaluate,
        REDIS,
        (
            "redis_url",
            "kafka_bootstrap",
            "datasets_dir",
            "half_life_s",
            "weights",
            "score_weights",
            "mf_factors",
            "mf_loss",
            "covisit_window",
            "ranker_learning_rate",
            "ranker_l2",
            "ranker_adoption_lists",
            "ranker_adoption_min_lists",
        ),
    )
    with_dataset(ev)
    ev.add_argument(
        "--tuning-part",
        type=float,
        default=0.5,
        help="the first X of the log (by time) is the tuning part: learned, never tested; "
        "every figure is from the rest, the test part (0: test every event)",
    )
    ev.add_argument(
        "--tune",
        action="store_true",
        help="choose the hand weights, the ranker's step and regularisation and the "
        "co-visitation window on the tuning part, write them to OUT/tuned.env, and report "
        "the test part with them",
    )
    ev.add_argument(
        "--ablations",
        action="store_true",
        help="also the full system without each source, and each source alone",
    )
    ev.add_argument("--seed", type=int, default=0, help="seed of the random baseline and MF")
    ev.add_argument("--out", default="eval-results", help="folder for JSON, markdown, PNG")
    ev.add_argument(
        "--experiment",
        help="an experiment's YAML: its variants are the systems, each user tested on the "
        "variant the worker would deal them",
    )

    ips = commands.add(
        "ips",
        "off-policy estimate of the last slot's click rate under another policy, from the "
        "audit log",
        _ips,
        BOTH,
        ("kafka_bootstrap", "redis_url", "app_id", "topic_prefix", "audit_sample_rate", "tenants"),
    )
    ips.add_argument(
        "--policy",
        choices=["exploration", "weights", "ranker"],
        default="exploration",
        help="the candidate policy: an exploration share, hand weights, or the learned ranker "
        "of a snapshot",
    )
    ips.add_argument(
        "--exploration",
        type=float,
        default=0.0,
        help="with --policy exploration: the candidate's exploration share",
    )
    ips.add_argument(
        "--weights",
        default="{}",
        help='with --policy weights: JSON, e.g. \'{"covisit": 1, "recent": 2}\'',
    )
    ips.add_argument(
        "--version", help="with --policy ranker: the snapshot (default: the promoted one)"
    )
    ips.add_argument(
        "--tenant",
        help="the tenant whose lists are judged (with --policy ranker, by its own ranker; "
        "default: the first of STREAMAPP_TENANTS)",
    )
    ips.add_argument(
        "--window",
        type=float,
        default=600.0,
        help="seconds after a list in which an interaction counts",
    )
