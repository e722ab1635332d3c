"""``streamapp rules list|add|propose|approve|reject|remove|history``: merchandising rules as
records of the compacted ``rules`` topic, which every worker follows and applies as soon as it
reads them, and every change to them as a record of the ``rules-audit`` topic: who, when, why.

A rule that needs approval (an ``allow``, or one on a sensitive category) is proposed, and in
effect only once someone other than its author approves it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from typing import Any

from streamapp.brokers import kafka_options
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
    async with CompactedTopic(kafka_options(settings), topic, client, keyed, "rule") as log:
        return dict(log.definitions)


def describe(rule: Any, now: int) -> str:
    """One line per rule: what it does to what, when, and who asked for it why."""
    if rule.status in ("proposed", "rejected"):
        state = rule.status
    elif rule.running(now):
        state = "in force"
    elif rule.starts_at is not None and now < rule.starts_at:
        state = "scheduled"
    else:
        state = "ended"
    how = {"pin": f" at {rule.position}", "boost": f" ×{rule.factor}", "bury": f" ×{rule.factor}"}
    approved = f", approved by {rule.approved_by}" if rule.status == "approved" else ""
    window = f" from {rule.starts_at}" if rule.starts_at is not None else ""
    window += f" until {rule.ends_at}" if rule.ends_at is not None else ""
    scope = ",".join(sorted(rule.scope))
    return (
        f"{rule.rule_id}  {state}  tenant={rule.tenant} {rule.action} {rule.target}"
        f"{how.get(rule.action, '')} scope={scope}{window}  by {rule.author}{approved}: "
        f"{rule.reason}"
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


async def _publish(
    settings: Settings,
    event: str,
    rule_id: str,
    tenant: str,
    document: dict[str, Any] | None,
    by: str,
    reason: str,
    now: int,
) -> None:
    """Write the rule's new version (None deletes it), then its audit record."""
    from streamapp.ops.compacted import publish

    await publish(kafka_options(settings), settings.topic("rules"), rule_id, document)
    record = {
        "rule_id": rule_id,
        "tenant": tenant,
        "event": event,
        "by": by,
        "at": now,
        "reason": reason,
        "rule": document,
    }
    await publish(kafka_options(settings), settings.topic("rules-audit"), rule_id, record)


async def _write(settings: Settings, known: dict[str, Any], args: argparse.Namespace) -> None:
    """add or propose: a new rule, checked; one that needs approval only proposed."""
    from streamapp.recommend.rules import InvalidRule, parse

    now = now_ms()
    if args.tenant not in settings.tenants:
        raise UsageError(f"tenant {args.tenant!r} is not served (STREAMAPP_TENANTS)")
    if args.id in known:
        raise UsageError(f"rule {args.id!r} exists; remove it first or use a new id")
    document = _document(args, now)
    if args.rules_action == "propose":
        document["status"] = "proposed"
    try:
        rule = parse(document)
    except InvalidRule as exc:
        raise UsageError(str(exc)) from None
    sensitive = settings.of_tenant(rule.tenant).sensitive_categories
    if args.rules_action == "add" and rule.needs_approval(sensitive):
        raise UsageError(
            f"rule {rule.rule_id!r} needs a second person's approval (an allow, or a rule on "
            "a sensitive category): `streamapp rules propose` it"
        )
    event = "proposed" if args.rules_action == "propose" else "added"
    await _publish(
        settings, event, rule.rule_id, rule.tenant, document, args.author, args.reason, now
    )
    print(f"{event} {describe(rule, now)}")


async def _decide(settings: Settings, rule: Any, args: argparse.Namespace) -> None:
    """approve or reject a proposed rule; its author cannot decide on it."""
    now = now_ms()
    if rule.status != "proposed":
        raise UsageError(f"rule {rule.rule_id!r} is {rule.status or 'in effect'}, not proposed")
    if args.author == rule.author:
        raise UsageError(
            f"{args.author} proposed {rule.rule_id!r}: someone else approves or rejects it"
        )
    event = "approved" if args.rules_action == "approve" else "rejected"
    document = {
        **rule.document,
        "status": event,
        "approved_by": args.author,
        "decided_at": now,
        "ts": now,
    }
    await _publish(
        settings, event, rule.rule_id, rule.tenant, document, args.author, args.reason, now
    )
    print(f"{event} {rule.rule_id}")


async def _history(settings: Settings, args: argparse.Namespace) -> None:
    import orjson

    from streamapp.ops.log_reader import LogReader

    reader = LogReader(kafka_options(settings), f"{settings.app_id}-rules-history")
    await reader.start()
    try:
        async for record in reader.everything(settings.topic("rules-audit"), 1000):
            entry = orjson.loads(record.value or b"{}")
            if args.tenant not in (None, entry.get("tenant")):
                continue
            if args.id not in (None, entry.get("rule_id")):
                continue
            print(
                f"{entry['at']}  {entry['rule_id']}  {entry['event']}  by {entry['by']}"
                f"  tenant={entry['tenant']}: {entry['reason']}"
            )
    finally:
        await reader.stop()


def _rules(args: argparse.Namespace) -> int:
    settings = get_settings()

    async def run() -> None:
        if args.rules_action == "history":
            await _history(settings, args)
            return
        known = await _current(settings)
        now = now_ms()
        if args.rules_action == "list":
            for rule in sorted(known.values(), key=lambda r: (r.tenant, r.rule_id)):
                if args.tenant in (None, rule.tenant):
                    print(describe(rule, now))
        elif args.rules_action in ("add", "propose"):
            await _write(settings, known, args)
        else:
            rule = known.get(args.id)
            if rule is None:
                raise UsageError(f"no rule {args.id!r}; `streamapp rules list` shows them")
            if args.rules_action == "remove":
                await _publish(
                    settings,
                    "removed",
                    rule.rule_id,
                    rule.tenant,
                    None,
                    args.author,
                    args.reason,
                    now,
                )
                print(f"removed {args.id}")
            else:
                await _decide(settings, rule, args)

    asyncio.run(run())
    return 0


def register(commands: Commands) -> None:
    rules = commands.add(
        "rules",
        "merchandising rules (block, pin, boost, bury, allow): list, add, propose, approve, "
        "reject, remove, and their history",
        _rules,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "app_id", "tenants", "sensitive_categories"),
    )
    actions = rules.add_subparsers(dest="rules_action", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="every rule: in force, scheduled, ended or pending")
    listed.add_argument("--tenant", help="only this tenant's rules")
    add = actions.add_parser("add", help="check a rule and publish it; workers apply it at once")
    propose = actions.add_parser(
        "propose", help="publish a rule that takes effect once someone else approves it"
    )
    for writer in (add, propose):
        writer.add_argument(
            "action_name", choices=("block", "pin", "boost", "bury", "allow"), metavar="ACTION"
        )
        writer.add_argument("--id", required=True, help="the rule's id (letters, digits, _ . -)")
        writer.add_argument("--tenant", default="default", help="the shop it applies to")
        writer.add_argument("--item", help="target: one item id")
        writer.add_argument("--category", help="target: every item of a category")
        writer.add_argument("--brand", help="target: every item of a brand")
        writer.add_argument("--position", type=int, help="a pin's place in the list, 1 = first")
        writer.add_argument(
            "--factor", type=float, help="score multiplier: above 1 boosts, below 1 buries"
        )
        writer.add_argument(
            "--scope",
            help="comma-separated: personal, fallback (both when left out; not a block's)",
        )
        writer.add_argument("--starts-at", help="epoch ms or ISO-8601 (UTC); at once if left out")
        writer.add_argument(
            "--ends-at", help="epoch ms or ISO-8601 (UTC); until removed if left out"
        )
    for name, what in (
        ("approve", "put a proposed rule in effect (not its author's to do)"),
        ("reject", "turn a proposed rule down (not its author's to do)"),
        ("remove", "delete a rule; its effects end at once"),
    ):
        decided = actions.add_parser(name, help=what)
        decided.add_argument("id", help="a rule id that `streamapp rules list` shows")
    history = actions.add_parser(
        "history", help="who added, proposed, approved, rejected or removed each rule, and why"
    )
    history.add_argument("--tenant", help="only this tenant's rules")
    history.add_argument("--id", help="only this rule")
    for parser in (add, propose, *(actions.choices[n] for n in ("approve", "reject", "remove"))):
        parser.add_argument("--reason", required=True, help="why: kept in the rule's history")
        parser.add_argument("--author", default=getpass.getuser(), help="who does it")
