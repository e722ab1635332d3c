"""``streamapp topics apply|check``: the cluster's topics against the declarations."""

from __future__ import annotations

import argparse
import asyncio

from streamapp.cli.parsing import KAFKA, Commands
from streamapp.settings import get_settings


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


def register(commands: Commands) -> None:
    topics = commands.add(
        "topics",
        "make the cluster's topics match the declarations, or report drift",
        _topics,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "topics_dir"),
    )
    topics.add_argument(
        "action",
        choices=["apply", "check"],
        help="apply: create topics, raise partitions, set configs; "
        "check: list differences and exit 1 if any",
    )
