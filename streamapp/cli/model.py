"""``streamapp model list|show|status|promote|rollback``: which snapshot workers serve, how
the newest came to be served (or not), and what any version named by a list was."""

from __future__ import annotations

import argparse
import asyncio

import orjson

from streamapp.cli.parsing import REDIS, Commands
from streamapp.errors import UsageError
from streamapp.settings import get_settings


def _model(args: argparse.Namespace) -> int:
    from streamapp.learning.registry import ModelRegistry
    from streamapp.rollout.controller import recent_steps
    from streamapp.state.store import Store

    async def run() -> int:
        async with Store(get_settings()) as store:
            registry = ModelRegistry(store)
            if args.action == "list":
                current = await registry.promoted_version()
                candidate = await registry.candidate_version()
                for meta in await registry.metas():
                    mark = {current: "*", candidate: "c"}.get(meta["version"], " ")
                    print(f"{mark} {orjson.dumps(meta).decode()}")
            elif args.action == "status":
                status = {
                    "promoted": await registry.promoted_version(),
                    "tenants": await registry.tenant_versions(),
                    "candidate": await registry.candidate_version(),
                    "steps": await recent_steps(store, args.steps),
                }
                print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
            elif args.action == "show":
                found = await registry.show(args.version)
                if found is None:
                    raise UsageError(
                        f"no snapshot {args.version!r}, nor its lineage "
                        "(STREAMAPP_MODEL_LINEAGE_S after it was saved)"
                    )
                print(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
            elif args.action == "promote":
                try:
                    await registry.promote(args.version, args.tenant)
                except KeyError as exc:
                    raise UsageError(f"{exc.args[0]}; `streamapp model list` shows them") from None
                print(f"promoted {args.version}{_for(args.tenant)}")
            else:
                now = await registry.rollback(args.tenant)
                print(f"promoted {now or 'nothing (hand-weighted ranking)'}{_for(args.tenant)}")
        return 0

    return asyncio.run(run())


def _for(tenant: str | None) -> str:
    return "" if tenant is None else f" for tenant {tenant}"


def register(commands: Commands) -> None:
    model = commands.add(
        "model",
        "list, trace, promote or roll back model snapshots; the rollout's status",
        _model,
        REDIS,
        ("redis_url", "app_id", "tenants"),
    )
    actions = model.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", help="snapshots, oldest first; * marks the promoted one, c the candidate"
    )
    status = actions.add_parser(
        "status", help="the promoted model, the candidate on canary and the latest rollout steps"
    )
    status.add_argument("--steps", type=int, default=10, help="rollout steps shown, newest first")
    show = actions.add_parser(
        "show", help="a snapshot's metadata (offsets trained to, quality), also after it was pruned"
    )
    show.add_argument("version", help="the model_version a list or `model list` names")
    promote = actions.add_parser("promote", help="serve a snapshot from now on")
    promote.add_argument("version", help="a version that `streamapp model list` shows")
    rollback = actions.add_parser(
        "rollback", help="serve the snapshot promoted before the current one"
    )
    for one in (promote, rollback):
        one.add_argument(
            "--tenant",
            help="this tenant's lists alone: its own promotion history, over the deployment's",
        )
