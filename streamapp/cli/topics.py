"""``streamapp topics apply|check|acls``: the cluster's topics against the declarations, and
the ACLs the declarations' ``access`` asks for."""

from __future__ import annotations

import argparse
import asyncio
import shlex

from streamapp.cli.parsing import KAFKA, Commands
from streamapp.errors import UsageError
from streamapp.settings import get_settings


def _topics(args: argparse.Namespace) -> int:
    from streamapp.ops.topics import TopicAdmin, load_specs

    settings = get_settings()
    if args.action == "acls":
        from streamapp.ops.acls import grants
        from streamapp.ops.topics import ROLES

        principals = {role: f"User:{role}" for role in ROLES}
        for pair in args.principal:
            role, _, principal = pair.partition("=")
            if role not in ROLES or not principal:
                raise UsageError(f"--principal {pair}: ROLE=PRINCIPAL, ROLE one of {list(ROLES)}")
            principals[role] = principal
        groups = (settings.app_id, settings.learner_group)
        for grant in grants(load_specs(settings), principals, groups):
            print(shlex.join(grant))
        return 0

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


def _offline_acls(args: argparse.Namespace) -> None:
    """``acls`` reads the declarations alone: it runs where no broker is reachable yet (before
    the cluster lets anyone in)."""
    if args.action == "acls":
        args.needs = ()


def register(commands: Commands) -> None:
    topics = commands.add(
        "topics",
        "make the cluster's topics match the declarations, or report drift",
        _topics,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "topics_dir"),
        validate=_offline_acls,
    )
    topics.add_argument(
        "action",
        choices=["apply", "check", "acls"],
        help="apply: create topics, raise partitions, set configs; "
        "check: list differences and exit 1 if any; "
        "acls: print the arguments of kafka-acls.sh, one grant a line, that give each role "
        "what the declarations' access allows and nothing more",
    )
    topics.add_argument(
        "--principal",
        action="append",
        default=[],
        metavar="ROLE=PRINCIPAL",
        help="with acls: the Kafka principal of a role (shop, streamapp, operator); "
        "User:ROLE when not given",
    )
