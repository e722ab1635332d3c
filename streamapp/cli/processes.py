"""``streamapp worker`` and ``streamapp learner``: the two long-running processes."""

from __future__ import annotations

import argparse
import os

from streamapp.cli.parsing import BOTH, CONNECT, Commands, with_loglevel
from streamapp.settings import get_settings


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


def register(commands: Commands) -> None:
    worker_reads = (
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
    )
    summary = "run the stream worker: agents, HTTP API, metrics"
    with_loglevel(commands.add("worker", summary, _worker, BOTH, worker_reads))
    learner_reads = (
        *CONNECT,
        "learner_web_port",
        "datadir",
        "snapshot_interval_s",
        "rollout",
        "mf_factors",
        "learner_nice",
    )
    summary = "run the online learner (its own consumer group) and publish snapshots"
    with_loglevel(commands.add("learner", summary, _learner, BOTH, learner_reads))
