"""Carries out the start and end of merchandising rules on the state and the current lists.

Every worker holds every rule (the compacted ``rules`` topic) and ranks new lists with those in
force; what a start or an end must change beyond new lists is done here, once per version of a
rule, by whichever worker takes it first (a lock in Redis that expires, so another worker
finishes what a stopped one began):

- a **block** that starts takes its items out as a stock-out does (``lua/rule_block.lua``):
  they join the out-of-stock set, so every commit and correction drops them, and each user
  whose current list shows one gets a refresh answered from their kept ranking -- the
  stock-out's path, with its latency. A category or a brand is resolved to its items a page
  at a time; items that arrive later stay out through ``lua/inventory.lua``. A block that ends
  lets its items back (those in stock and held out by nothing else); they enter lists as
  those are next made.
- a tenant's **sensitive categories** (settings) hold their items out the same way, and an
  approved **allow** lets them back while it is in force.
- a **pin**, **boost** or **bury** that starts or ends gets the lists that show its items
  ranked anew. A list that does not show them takes the rule up when it is next made.

Which versions are carried out is kept in Redis (``t:rules``), so a restart or a new worker
neither repeats nor misses a start or an end, and a rule changed in place ends its old version
before its new one starts. A rule that is not effective (pending or rejected approval) has
nothing carried out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial

import orjson

from streamapp.recommend.rules import InvalidRule, Rule, parse
from streamapp.settings import Settings
from streamapp.state.store import Store
from streamapp.worker.refreshes import Refreshes
from streamapp.worker.sink import Sink

log = logging.getLogger(__name__)

# How long a worker may take over a rule's start or end before another may take it over.
HOLD_S = 60.0
# Which table of the state (lua/ruled.lua) a rule's action changes; the others touch lists.
TABLES = {"block": "ruled", "allow": "allowed"}
# With no change, how often a worker looks at what is applied all the same (ms).
RECHECK_MS = 30_000
# A tenant's sensitive category, carried out as a rule of this id prefix.
SENSITIVE = "sensitive:"


class RuleEffects:
    """Brings the state and the current lists in line with the rules in force."""

    def __init__(
        self, settings: Settings, store: Store, sink: Sink, rules: Callable[[], Iterable[Rule]]
    ) -> None:
        self.settings = settings
        self.store = store
        self.sink = sink
        self.rules = rules
        self.refreshes = Refreshes(settings, store, sink)
        # What the last complete step saw: the rules, when, and whether it left a rule that
        # another worker held.
        self.seen: frozenset[object] = frozenset()
        self.checked_at: int | None = None
        self.waiting = False

    async def step(self, now: int) -> int:
        """Carry out every start and end due at ``now`` (epoch ms); returns how many. A step
        reads Redis only when there can be something to do: the rules changed, a rule's start
        or end passed, the last step met a rule another worker held, or ``RECHECK_MS`` went
        by (a worker that took a rule and stopped leaves it to the others once its lock
        expires). A step that fails is due again."""
        rules = list(self.rules())
        seen = frozenset((r.tenant, r.rule_id, r.ts, r.status, r.approved_by) for r in rules)
        if not self._due(rules, seen, now):
            return 0
        done, waiting = 0, False

        async def held(tenant: str, rule_id: str, work: Callable[[], Awaitable[None]]) -> None:
            nonlocal done, waiting
            if await self._held(tenant, rule_id, work):
                done += 1
            else:
                waiting = True

        for tenant in self.settings.tenants:
            sensitive = self.settings.of_tenant(tenant).sensitive_categories
            wanted = {
                r.rule_id: r
                for r in rules
                if r.tenant == tenant and r.running(now) and r.effective(sensitive)
            }
            applied = await self.store.rules_applied(tenant)
            kept = {SENSITIVE + c for c in sensitive}
            for rule_id, record in applied.items():
                if rule_id.startswith(SENSITIVE):
                    if rule_id not in kept:
                        await held(
                            tenant,
                            rule_id,
                            partial(self._sensitive, tenant, rule_id, "remove", now),
                        )
                    continue
                rule = wanted.get(rule_id)
                if rule is None or rule.ts != _version(record):
                    await held(tenant, rule_id, partial(self._end, tenant, rule_id, record, now))
            for rule_id in kept - set(applied):
                await held(tenant, rule_id, partial(self._sensitive, tenant, rule_id, "add", now))
            for rule_id, rule in wanted.items():
                if rule_id not in applied or rule.ts != _version(applied[rule_id]):
                    await held(tenant, rule_id, partial(self._start, rule, now))
        self.seen, self.checked_at, self.waiting = seen, now, waiting
        return done

    def _due(self, rules: list[Rule], seen: frozenset[object], now: int) -> bool:
        if self.checked_at is None or seen != self.seen or self.waiting:
            return True
        if now - self.checked_at >= RECHECK_MS:
            return True
        last = self.checked_at
        return any(
            t is not None and last < t <= now for r in rules for t in (r.starts_at, r.ends_at)
        )

    async def _held(self, tenant: str, rule_id: str, work: Callable[[], Awaitable[None]]) -> int:
        """Run ``work`` under the rule's lock; 0 when another worker holds it."""
        if not await self.store.hold_rule(tenant, rule_id, HOLD_S):
            return 0
        try:
            await work()
        finally:
            await self.store.release_rule(tenant, rule_id)
        return 1

    async def _start(self, rule: Rule, now: int) -> None:
        await self._apply(rule, "add", now)
        await self.store.mark_rule(rule.tenant, rule.rule_id, orjson.dumps(dict(rule.document)))
        log.info("rule started tenant=%s rule=%s action=%s", rule.tenant, rule.rule_id, rule.action)

    async def _end(self, tenant: str, rule_id: str, record: bytes, now: int) -> None:
        try:
            rule: Rule | None = parse(orjson.loads(record))
        except (InvalidRule, ValueError) as exc:
            log.warning("rule %s: its applied version does not read (%s); forgotten", rule_id, exc)
            rule = None
        if rule is not None:
            await self._apply(rule, "remove", now)
        await self.store.mark_rule(tenant, rule_id, None)
        log.info("rule ended tenant=%s rule=%s", tenant, rule_id)

    async def _sensitive(self, tenant: str, rule_id: str, mode: str, now: int) -> None:
        """A sensitive category of the tenant's settings held out (``add``) or let go."""
        category = rule_id.removeprefix(SENSITIVE)
        items = self.store.items_of(tenant, "category", category)
        target = f"category:{category}"
        await self._change(tenant, "sensitive", "config", target, mode, items, rule_id, now)
        await self.store.mark_rule(tenant, rule_id, b"{}" if mode == "add" else None)
        log.info("sensitive category %s tenant=%s category=%s", mode, tenant, category)

    async def _apply(self, rule: Rule, mode: str, now: int) -> None:
        table = TABLES.get(rule.action)
        await self._change(
            rule.tenant,
            table,
            rule.rule_id,
            rule.target,
            mode if table else "touch",
            self._items(rule),
            f"rule:{rule.rule_id}:{rule.ts}",
            now,
        )

    async def _change(
        self,
        tenant: str,
        table: str | None,
        rule_id: str,
        target: str,
        mode: str,
        pages: AsyncIterator[list[str]],
        cause: str,
        now: int,
    ) -> None:
        """A change to one of the state's rule tables (or a touch) over each page of items,
        and the refreshes it calls for: an item now held out is corrected like a stock-out
        (``block``); an item a pin, boost or bury moves is ranked anew (``rule``)."""
        reason = "block" if table else "rule"
        if table:
            # The target's entry first: an item of it that arrives from now on is judged by it.
            await self.store.rule_effect(tenant, table, rule_id, target, mode, [], now)
        async for items in pages:
            shown = await self.store.rule_effect(
                tenant, table or "", rule_id, target, mode, items, now
            )
            for item, users, page in shown:
                await self.refreshes.route(tenant, item, cause, now, users, page, reason)
            await self.sink.flush()

    async def _items(self, rule: Rule) -> AsyncIterator[list[str]]:
        if rule.kind == "item_id":
            yield [rule.value]
            return
        async for page in self.store.items_of(rule.tenant, rule.kind, rule.value):
            if page:
                yield page


def _version(record: bytes) -> int | None:
    """The ``ts`` of an applied rule's record (None when it does not read)."""
    try:
        ts = orjson.loads(record).get("ts")
    except (ValueError, AttributeError):
        return None
    return ts if isinstance(ts, int) else None
