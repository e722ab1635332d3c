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
  lets its items back (those in stock and covered by no other block); they enter lists as
  those are next made.
- a **pin**, **boost** or **bury** that starts or ends gets the lists that show its items
  ranked anew. A list that does not show them takes the rule up when it is next made.

Which versions are carried out is kept in Redis (``t:rules``), so a restart or a new worker
neither repeats nor misses a start or an end, and a rule changed in place ends its old version
before its new one starts.
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

    async def step(self, now: int) -> int:
        """Carry out every start and end due at ``now`` (epoch ms); returns how many."""
        done = 0
        for tenant in self.settings.tenants:
            wanted = {r.rule_id: r for r in self.rules() if r.tenant == tenant and r.running(now)}
            applied = await self.store.rules_applied(tenant)
            for rule_id, record in applied.items():
                rule = wanted.get(rule_id)
                if rule is None or rule.ts != _version(record):
                    end = partial(self._end, tenant, rule_id, record, now)
                    done += await self._held(tenant, rule_id, end)
            for rule_id, rule in wanted.items():
                if rule_id not in applied or rule.ts != _version(applied[rule_id]):
                    done += await self._held(tenant, rule_id, partial(self._start, rule, now))
        return done

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
        mode, reason = ("add", "block") if rule.action == "block" else ("touch", "rule")
        await self._apply(rule, mode, reason, now)
        await self.store.mark_rule(rule.tenant, rule.rule_id, orjson.dumps(dict(rule.document)))
        log.info("rule started tenant=%s rule=%s action=%s", rule.tenant, rule.rule_id, rule.action)

    async def _end(self, tenant: str, rule_id: str, record: bytes, now: int) -> None:
        try:
            rule: Rule | None = parse(orjson.loads(record))
        except (InvalidRule, ValueError) as exc:
            log.warning("rule %s: its applied version does not read (%s); forgotten", rule_id, exc)
            rule = None
        if rule is not None:
            mode, reason = ("remove", "block") if rule.action == "block" else ("touch", "rule")
            await self._apply(rule, mode, reason, now)
        await self.store.mark_rule(tenant, rule_id, None)
        log.info("rule ended tenant=%s rule=%s", tenant, rule_id)

    async def _apply(self, rule: Rule, mode: str, reason: str, now: int) -> None:
        """The rule's effect on each page of its items, and the refreshes it calls for (none
        for a block that ends: no current list holds its items)."""
        cause = f"rule:{rule.rule_id}:{rule.ts}"
        if rule.kind != "item_id" and mode != "touch":
            # The target's entry first: an item of it that arrives from now on is covered.
            await self.store.rule_effect(rule.tenant, rule.rule_id, rule.target, mode, [], now)
        async for items in self._items(rule):
            shown = await self.store.rule_effect(
                rule.tenant, rule.rule_id, rule.target, mode, items, now
            )
            if mode == "remove":
                continue
            for item, users, page in shown:
                await self.refreshes.route(rule.tenant, item, cause, now, users, page, reason)
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
