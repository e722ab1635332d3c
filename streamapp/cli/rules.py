"""``streamapp rules list|add|remove``: merchandising rules as records of the compacted
``rules`` topic, which every worker follows and applies as soon as it reads them."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from typing import Any

from streamapp.cli.parsing import KAFKA, Commands
from streamapp.cli.report import instant
from streamapp.clock import now_ms
from streamapp.errors import UsageError
from streamapp.settings import Settings, get_settings


async def _current(settings: Settings) -> dict[str, Any]:
    from streamapp.ops.compacted import CompactedTopic
    from streamapp.recommend.rules import keyed

    topic = settings.topic("rules")
    client = f"{settings.app_id}-cli"
    async with CompactedTopic(settings.kafka_bootstrap, topic, client, keyed, "rule") as log:
        return dict(log.definitions)


def describe(rule: Any, now: int) -> str:
    """One line per rule: what it does to what, when, and who asked for it why."""
    if rule.running(now):
        state = "in force"
    elif rule.starts_at is not None and now < rule.starts_at:
        state = "scheduled"
    else:
        state = "ended"
    how = {"pin": f" at {rule.position}", "boost": f" ×{rule.factor}", "bury": f" ×{rule.factor}"}
    window = f" from {rule.starts_at}" if rule.starts_at is not None else ""
    window += f" until {rule.ends_at}" if rule.ends_at is not None else ""
    scope = ",".join(sorted(rule.scope))
    return (
        f"{rule.rule_id}  {state}  tenant={rule.tenant} {rule.action} {rule.target}"
        f"{how.get(rule.action, '')} scope={scope}{window}  by {rule.author}: {rule.reason}"
    )


def _document(args: argparse.Namespace, now: int) -> dict[str, Any]:
    targets = {"item_id": args.item, "category": args.category, "brand": args.brand}
    chosen = {kind: value for kind, value in targets.items() if value is not None}
    if len(chosen) != 1:
        raise UsageError("name exactly one target: --item, --category or --brand")
    document: dict[str, Any] = {
        "rule_id": args.id,
        "tenant": args.tenant,
        "action": args.action_name,
        "target": chosen,
        "author": args.author,
        "reason": args.reason,
        "ts": now,
    }
    optional = {
        "position": args.position,
        "factor": args.factor,
        "scope": args.scope.split(",") if args.scope else None,
        "starts_at": instant(args.starts_at, now) if args.starts_at else None,
        "ends_at": instant(args.ends_at, now) if args.ends_at else None,
    }
    document.update({k: v for k, v in optional.items() if v is not None})
    return document


def _rules(args: argparse.Namespace) -> int:
    settings = get_settings()

    async def run() -> None:
        from streamapp.ops.compacted import publish
        from streamapp.recommend.rules import InvalidRule, parse

        known = await _current(settings)
        now = now_ms()
        topic = settings.topic("rules")
        if args.rules_action == "list":
            for rule in sorted(known.values(), key=lambda r: (r.tenant, r.rule_id)):
                if args.tenant in (None, rule.tenant):
                    print(describe(rule, now))
        elif args.rules_action == "add":
            if args.tenant not in settings.tenants:
                raise UsageError(f"tenant {args.tenant!r} is not served (STREAMAPP_TENANTS)")
            if args.id in known:
                raise UsageError(f"rule {args.id!r} exists; remove it first or use a new id")
            document = _document(args, now)
            try:
                rule = parse(document)
            except InvalidRule as exc:
                raise UsageError(str(exc)) from None
            await publish(settings.kafka_bootstrap, topic, rule.rule_id, document)
            print(f"added {describe(rule, now)}")
        else:
            if args.id not in known:
                raise UsageError(f"no rule {args.id!r}; `streamapp rules list` shows them")
            await publish(settings.kafka_bootstrap, topic, args.id, None)
            print(f"removed {args.id}")

    asyncio.run(run())
    return 0


def register(commands: Commands) -> None:
    rules = commands.add(
        "rules",
        "list, add or remove merchandising rules (block, pin, boost, bury)",
        _rules,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "app_id", "tenants"),
    )
    actions = rules.add_subparsers(dest="rules_action", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="every rule, in force, scheduled or ended")
    listed.add_argument("--tenant", help="only this tenant's rules")
    add = actions.add_parser("add", help="check a rule and publish it; workers apply it at once")
    add.add_argument("action_name", choices=("block", "pin", "boost", "bury"), metavar="ACTION")
    add.add_argument("--id", required=True, help="the rule's id (letters, digits, _ . -)")
    add.add_argument("--tenant", default="default", help="the shop it applies to")
    add.add_argument("--item", help="target: one item id")
    add.add_argument("--category", help="target: every item of a category")
    add.add_argument("--brand", help="target: every item of a brand")
    add.add_argument("--position", type=int, help="a pin's place in the list, 1 = first")
    add.add_argument("--factor", type=float, help="score multiplier: above 1 boosts, below buries")
    add.add_argument(
        "--scope", help="comma-separated: personal, fallback (both when left out; not a block's)"
    )
    add.add_argument("--starts-at", help="epoch ms or ISO-8601 (UTC); at once when left out")
    add.add_argument("--ends-at", help="epoch ms or ISO-8601 (UTC); until removed if left out")
    add.add_argument("--reason", required=True, help="why: kept with the rule")
    add.add_argument("--author", default=getpass.getuser(), help="who asks for it")
    remove = actions.add_parser("remove", help="delete a rule; its effects end at once")
    remove.add_argument("id", help="a rule id that `streamapp rules list` shows")
