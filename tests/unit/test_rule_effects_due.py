"""When a worker looks at the rules' effects in Redis: on a change of the rules, at a rule's
start or end, after meeting a rule another worker held, and every ``RECHECK_MS`` all the
same; otherwise a rules poll costs no Redis read. The store here only counts the reads (what
the reads do is tested against Redis in tests/integration/test_rules.py)."""

from __future__ import annotations

from typing import Any

from streamapp.recommend.rules import Rule
from streamapp.settings import Settings
from streamapp.worker.rule_effects import RECHECK_MS, RuleEffects
from tests.unit.test_rules import rule


class CountingStore:
    """Nothing applied and every lock another worker's: reads counted, nothing written."""

    def __init__(self) -> None:
        self.reads = 0

    async def rules_applied(self, tenant: str) -> dict[str, bytes]:
        self.reads += 1
        return {}

    async def hold_rule(self, tenant: str, rule_id: str, hold_s: float) -> bool:
        return False


def effects(store: CountingStore, rules: list[Rule]) -> RuleEffects:
    store_any: Any = store
    return RuleEffects(Settings(tenants=("default",)), store_any, store_any, lambda: rules)


async def test_a_poll_reads_redis_only_when_something_can_be_due():
    starts = 1_000_000
    rules: list[Rule] = [rule("later", "block", {"item_id": "i1"}, starts_at=starts)]
    store = CountingStore()
    watcher = effects(store, rules)
    await watcher.step(10)
    await watcher.step(20)
    assert store.reads == 1  # the first step, then nothing changed
    rules.append(rule("new", "block", {"item_id": "i2"}, starts_at=starts + 1))
    await watcher.step(30)
    assert store.reads == 2  # a new record
    await watcher.step(starts - 1)
    assert store.reads == 3  # RECHECK_MS went by
    await watcher.step(starts - 1 + RECHECK_MS // 2)
    assert store.reads == 4  # both starts passed


async def test_a_rule_another_worker_holds_is_looked_at_again_at_the_next_poll():
    store = CountingStore()
    watcher = effects(store, [rule("now", "block", {"item_id": "i1"})])
    assert await watcher.step(10) == 0
    assert await watcher.step(20) == 0
    assert store.reads == 2
