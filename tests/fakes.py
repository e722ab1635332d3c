"""In-memory stand-ins for the store's interface and the sink, for unit tests of the processors'
own logic (decode, dead letters, what is ranked, committed and sent). What the state does in
Redis is held by the integration tests against the real one; this fake keeps only enough of it
to answer: event ids per user, recent items, stock, and the last list per user."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import orjson

from streamapp.state.types import (
    EventRow,
    Gathered,
    InventoryOutcome,
    InventoryRow,
    ListToCommit,
    Outcome,
    Ranking,
    TenantSignals,
    UserSignals,
)


class MemoryStore:
    def __init__(self, top_k: int = 10) -> None:
        self.top_k = top_k
        self.landmarks: dict[str, float] = {}
        self.seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.recent: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.popular: dict[str, Counter[str]] = defaultdict(Counter)
        self.stock: dict[tuple[str, str], tuple[int, int]] = {}  # (tenant, item) → (ts, stock)
        self.last: dict[tuple[str, str], list[str]] = {}
        self.kept: dict[tuple[str, str], Ranking] = {}
        self.committed: list[ListToCommit] = []
        self.gathered: list[list[tuple[str, str]]] = []  # the users of each ingest call
        self.ingested: list[EventRow] = []

    def out_of_stock(self, tenant: str) -> set[str]:
        return {i for (t, i), (_, units) in self.stock.items() if t == tenant and units <= 0}

    async def landmark(self, tenant: str, first_ts: float) -> float:
        return self.landmarks.setdefault(tenant, first_ts)

    async def rescale(self, tenant: str, landmark: float, new_landmark: int) -> bool:
        self.landmarks[tenant] = new_landmark
        return True

    async def rankings(self, users: list[tuple[str, str]]) -> dict[tuple[str, str], Ranking]:
        out = {}
        for user in users:
            ranking = self.kept.get(user)
            oos = self.out_of_stock(user[0])
            if ranking and sum(r.item_id not in oos for r in ranking.ranked) >= self.top_k:
                out[user] = ranking
        return out

    async def ingest(
        self,
        events: list[EventRow],
        users: list[tuple[str, str]],
        spans: dict[str, tuple[int, int]] | None = None,
        cosine: bool = True,
        kinds: bool = False,
    ) -> Gathered:
        self.gathered.append(list(users))
        status = []
        for row in events:
            self.ingested.append(row)
            key = (row.tenant, row.user_id)
            if row.event_id in self.seen[key]:
                status.append(Outcome.DUPLICATE)
                continue
            self.seen[key].add(row.event_id)
            self.recent[key] = [row.item_id, *(i for i in self.recent[key] if i != row.item_id)]
            self.popular[row.tenant][row.item_id] += 1
            status.append(Outcome.APPLIED)
        gathered = [
            UserSignals(t, u, list(self.recent[(t, u)]), [], [], [], set()) for t, u in users
        ]
        tenants = {
            t: TenantSignals(
                popular=[(i, float(n)) for i, n in self.popular[t].most_common()],
                catalog=[],
                blocked=self.out_of_stock(t),
            )
            for t in {t for t, _ in users}
        }
        return Gathered(status, gathered, tenants)

    async def commit_lists(self, lists: list[ListToCommit], now_ms: int) -> list[tuple[str, bytes]]:
        out = []
        for to_commit in lists:
            self.committed.append(to_commit)
            oos = self.out_of_stock(to_commit.tenant)
            ranking = [r for r in to_commit.ranked if r.item_id not in oos]
            kept = ranking[: self.top_k]
            source = kept[0].source if kept else "empty"
            body = ",".join(r.fragment for r in kept)
            message = f'{to_commit.head}{body}],"source":"{source}"}}'.encode()
            key = (to_commit.tenant, to_commit.user_id)
            self.last[key] = [r.item_id for r in kept]
            self.kept[key] = Ranking(to_commit.version, ranking, to_commit.whole)
            out.append((source, message))
        return out

    async def apply_inventory(
        self,
        events: list[InventoryRow],
        now_ms: int,
        spans: dict[str, tuple[int, int]] | None = None,
    ) -> list[InventoryOutcome]:
        out = []
        for row in events:
            before = self.stock.get((row.tenant, row.item_id))
            if before and before[0] > row.ts:
                out.append(InventoryOutcome(Outcome.STALE, "none", []))
                continue
            self.stock[(row.tenant, row.item_id)] = (row.ts, row.stock)
            was_in = before is None or before[1] > 0
            transition = "out" if was_in and row.stock <= 0 else "none"
            if not was_in and row.stock > 0:
                transition = "in"
            shown = [
                u for (t, u), items in self.last.items() if t == row.tenant and row.item_id in items
            ]
            affected = shown if transition == "out" else []
            out.append(InventoryOutcome(Outcome.APPLIED, transition, affected))
        return out

    async def shown_to(self, tenant: str, item: str, now_ms: int) -> AsyncIterator[list[str]]:
        yield [u for (t, u), items in self.last.items() if t == tenant and item in items]


class MemorySink:
    """What a processor sent, by topic, once flushed."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes | None, bytes]] = []
        self.sent: dict[str, list[tuple[bytes | None, bytes]]] = defaultdict(list)

    async def send(self, topic, key, value, headers=None) -> None:
        self.pending.append((topic, key, value))

    async def flush(self) -> None:
        for topic, key, value in self.pending:
            self.sent[topic].append((key, value))
        self.pending.clear()

    def abandon(self) -> None:
        self.pending.clear()

    def messages(self, topic: str) -> list[dict]:
        return [orjson.loads(value) for _, value in self.sent[topic]]
