"""All I/O with Redis: the key layout, the server-side scripts and the pipelines.

No other module builds a Redis key. Keys are ``<tenant>:<kind>:<id>``:

====================  =======  ==========================================================
key                   type     what
====================  =======  ==========================================================
t:landmark            string   forward-decay landmark (epoch ms), set by the first event
t:u:U:ids             zset     the user's recent event ids (dedupe), bounded
t:u:U:items           zset     decayed user → item affinity (the history source), bounded
t:u:U:cats            zset     decayed user → category affinity, bounded
t:u:U:recent          zset     session: recent items by time, bounded
t:u:U:bought          zset     purchased items (excluded from lists), bounded
t:u:U:shown           set      items of the user's current list
t:u:U:last            string   the user's current list (the published JSON)
t:pop                 zset     decayed global popularity, bounded
t:catpop:C            zset     decayed popularity within category C, bounded
t:new:C               zset     category C's in-stock items without interactions, by arrival
t:cv:I                zset     decayed co-visitation I → other items, bounded
t:item:I              hash     product table: stock, price, margin, category, brand, ts
t:price, t:margin     hash     item → price, item → margin (copies the gather reads in bulk)
t:oos                 set      out-of-stock items
t:instock             zset     in-stock items by last update (last-resort candidates)
t:shown:I             zset     reverse index: users whose current list has I, by time
t:u:U:vec             string   the user's factor vector (JSON floats), written by the learner
<app>:wm              hash     per topic:partition, the last applied input offset
<app>:models          zset     model snapshot versions by creation time
<app>:model:V         hash     snapshot V: meta (JSON), ids (JSON), vectors (float32)
<app>:promoted        list     promoted versions, newest first (rollback pops the head)
====================  =======  ==========================================================

Every per-user key carries the idle-user TTL; per-item structures are trimmed to their bound
once per batch. One batch costs one script call (one round trip) per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from streamapp.package_data import folder
from streamapp.settings import Settings
from streamapp.snapshots import Snapshot, SnapshotError, decode, encode

LUA_DIR = folder("streamapp", "lua")

APPLIED, DUPLICATE, REPLAYED, STALE = 1, 2, 3, 4

# The settings a script reads, passed with every call so that a script holds no configuration.
INGEST_CONFIG = (
    "seen_event_ids",
    "user_items_max",
    "user_categories_max",
    "covisit_max",
    "popularity_max",
    "category_popularity_max",
    "purchased_max",
    "session_items",
    "covisit_window",
    "user_ttl_s",
    "top_k",
    "covisit_per_item",
    "new_arrival_candidates",
    "categories_per_user",
    "category_candidates",
    "popular_candidates",
    "history_candidates",
    "drop_unknown_stock",
)

Scored = list[tuple[str, float]]


def _seq(value: Any) -> list[Any]:
    """Redis' cjson encodes an empty Lua table as ``{}``: read it back as an empty list."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Any) -> Scored:
    """``[item, score, item, score, ...]`` (ZREVRANGE WITHSCORES) as (item, score) pairs."""
    flat = _seq(flat)
    return list(zip(flat[::2], flat[1::2], strict=True))


@dataclass
class UserSignals:
    """Raw state of one user as gathered for ranking (plain values, no Redis types)."""

    tenant: str
    user_id: str
    recent: list[str]
    covisit: list[Scored]
    categories: Scored
    category_popular: list[Scored]
    purchased: set[str]
    history: Scored = field(default_factory=list)
    vector: list[float] | None = None
    # Per category of ``categories``: its new arrivals (item, arrival ts), newest first.
    category_new: list[Scored] = field(default_factory=list)


@dataclass
class TenantSignals:
    """Batch-level state of one tenant: popularity, last-resort catalogue, blocked items, and
    the price and margin of the candidates the product table knows."""

    popular: Scored
    catalog: list[str]
    blocked: set[str]
    prices: dict[str, float] = field(default_factory=dict)
    margins: dict[str, float] = field(default_factory=dict)


# A list for commit_lists: tenant, user, message head, ranked (item, JSON fragment, source)
# deeper than the list, and the model version that ranked it (False: the user's kept ranking).
ListToCommit = tuple[str, str, str, list[tuple[str, str, str]], str | bool]


@dataclass
class Ranking:
    """A user's stored ranking: the model version that made it and its (item, fragment, source)."""

    version: str
    ranked: list[tuple[str, str, str]]


@dataclass
class Gathered:
    """What one ingest call returns: per-event outcome and the state to rank from."""

    status: list[int]
    users: list[UserSignals]
    tenants: dict[str, TenantSignals]


@dataclass
class InventoryOutcome:
    """What one inventory event did: applied or stale, the stock transition, users to refresh."""

    status: int
    transition: str
    affected_users: list[str]


class Store:
    """Async access to streamapp's state in Redis. ``async with Store(settings) as store:``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A Redis that stops answering (frozen, partitioned) must fail a call, not hang it: the
        # batch runner then retries and reports the stall.
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self._ingest = self.redis.register_script((LUA_DIR / "ingest.lua").read_text())
        self._commit = self.redis.register_script((LUA_DIR / "commit.lua").read_text())
        self._reserve = self.redis.register_script((LUA_DIR / "reserve.lua").read_text())
        self._inventory = self.redis.register_script((LUA_DIR / "inventory.lua").read_text())
        self._popular = self.redis.register_script((LUA_DIR / "popular.lua").read_text())
        self._config = {name: getattr(settings, name) for name in INGEST_CONFIG}
        self._landmarks: dict[str, float] = {}

    async def start(self) -> None:
        await self.redis.ping()

    async def stop(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> Store:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def watermark_key(self) -> str:
        return f"{self.settings.app_id}:wm"

    async def watermarks(self) -> dict[str, int]:
        """The last applied offset of every input ``topic:partition`` the state has seen."""
        raw = await self.redis.hgetall(self.watermark_key)
        return {_text(tp): int(offset) for tp, offset in raw.items()}

    async def forget_watermarks(self, partitions: list[str]) -> None:
        """Drop the watermarks of partitions whose log is not the one they were taken from."""
        if partitions:
            await self.redis.hdel(self.watermark_key, *partitions)

    async def landmark(self, tenant: str, first_ts: float) -> float:
        """The tenant's forward-decay landmark, set to ``first_ts`` by the very first event.

        Cached for the process lifetime: it only moves by a rescale, which runs with the
        workers stopped.
        """
        cached = self._landmarks.get(tenant)
        if cached is None:
            key = f"{tenant}:landmark"
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(key, int(first_ts), nx=True)
                pipe.get(key)
                _, value = await pipe.execute()
            cached = self._landmarks[tenant] = float(value)
        return cached

    async def ingest(self, events: list[tuple[Any, ...]], users: list[tuple[str, str]]) -> Gathered:
        """Apply a batch of interactions and gather ranking state for ``users``, atomically.

        ``events`` rows are ``(tenant, "topic:partition", offset, event_id, user, item,
        category or False, forward_weight, ts, purchased 0|1, price or False)``: a price is
        only known from logs that carry one (the evaluator's REES46); inventory events are the
        product table's usual source.
        """
        if not events and not users:
            return Gathered([], [], {})
        request = {"wm": self.watermark_key, "cfg": self._config, "events": events, "users": users}
        raw = await self._ingest(args=[orjson.dumps(request)])
        reply = orjson.loads(raw)
        covisit: dict[str, dict[str, Scored]] = {}
        category: dict[str, dict[str, Scored]] = {}
        arrivals: dict[str, dict[str, Scored]] = {}
        tenants: dict[str, TenantSignals] = {}
        for t, v in (reply["tenants"] or {}).items():
            covisit[t] = {item: _pairs(flat) for item, flat in (v["covisit"] or {}).items()}
            category[t] = {cat: _pairs(flat) for cat, flat in (v["category"] or {}).items()}
            arrivals[t] = {cat: _pairs(flat) for cat, flat in (v["new"] or {}).items()}
            flat = _seq(v["attributes"])
            triples = list(zip(flat[::3], flat[1::3], flat[2::3], strict=True))
            tenants[t] = TenantSignals(
                popular=_pairs(v["popular"]),
                catalog=_seq(v["catalog"]),
                blocked=set(_seq(v["blocked"])),
                prices={item: price for item, price, _ in triples if price is not False},
                margins={item: margin for item, _, margin in triples if margin is not False},
            )
        signals: list[UserSignals] = []
        for t, u, recent, cats, bought, history, vector in _seq(reply["users"]):
            categories = _pairs(cats)
            signals.append(
                UserSignals(
                    tenant=t,
                    user_id=u,
                    recent=_seq(recent),
                    covisit=[
                        covisit[t][item] for item in _seq(recent)[: self.settings.covisit_window]
                    ],
                    categories=categories,
                    category_popular=[category[t][c] for c, _ in categories],
                    category_new=[arrivals[t][c] for c, _ in categories],
                    purchased=set(_seq(bought)),
                    history=_pairs(history),
                    vector=orjson.loads(vector) if vector else None,
                )
            )
        return Gathered(status=_seq(reply["status"]), users=signals, tenants=tenants)

    async def commit_lists(self, lists: list[ListToCommit], now_ms: int) -> list[tuple[str, bytes]]:
        """Make lists current and keep their rankings (see ``lua/commit.lua``); returns (top
        source, final JSON) of each."""
        if not lists:
            return []
        request = {
            "k": self.settings.top_k,
            "ttl": self.settings.user_ttl_s,
            "now": now_ms,
            "lists": lists,
        }
        result = await self._commit(args=[orjson.dumps(request)])
        return [(source.decode(), message) for source, message in result]

    async def rankings(self, users: list[tuple[str, str]]) -> dict[tuple[str, str], Ranking]:
        """The users' last rankings that a stock-out can be answered from (``lua/reserve.lua``):
        those with a full list still in stock. A user missing from the answer is ranked again."""
        if not users:
            return {}
        depth = 2 * self.settings.top_k
        request = {"k": self.settings.top_k, "depth": depth, "users": users}
        stored = await self._reserve(args=[orjson.dumps(request)])
        out = {}
        for user, raw in zip(users, stored, strict=True):
            if raw:
                version, ranked = orjson.loads(raw)
                out[user] = Ranking(version, [(i, f, s) for i, f, s in _seq(ranked)])
        return out

    async def apply_inventory(
        self, events: list[tuple[str, str, int, int, dict[str, Any]]], now_ms: int
    ) -> list[InventoryOutcome]:
        """Upsert products and the out-of-stock set (see ``lua/inventory.lua``); a stock-out
        names the users whose list, as of ``now_ms``, is still within its lifetime."""
        if not events:
            return []
        cfg = {"new_arrivals_max": self.settings.new_arrivals_max}
        horizon = now_ms - self.settings.user_ttl_s * 1000
        request = {"cfg": cfg, "horizon": horizon, "events": events}
        raw = await self._inventory(args=[orjson.dumps(request)])
        return [
            InventoryOutcome(status, transition, _seq(users))
            for status, transition, users in orjson.loads(raw)
        ]

    async def serving_view(
        self, tenant: str, user_id: str, top_up: int, exclude: Sequence[str] = ()
    ) -> tuple[dict[str, Any] | None, Scored]:
        """What the HTTP API answers from, in one round trip: the user's last list without the
        items that went out of stock since it was made (None when there is none), and up to
        ``top_up`` in-stock items by popularity that the user has not bought and the caller did
        not exclude."""
        prefix = f"{tenant}:u:{user_id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(f"{prefix}:last")
            pipe.sinter([f"{prefix}:shown", f"{tenant}:oos"])
            await self._popular(
                keys=[f"{tenant}:pop", f"{tenant}:oos", f"{prefix}:bought"],
                args=[top_up, *exclude],
                client=pipe,
            )
            raw, gone, flat = await pipe.execute()
        popular = [(flat[i].decode(), float(flat[i + 1])) for i in range(0, len(flat), 2)]
        if raw is None:
            return None, popular
        message: dict[str, Any] = orjson.loads(raw)
        if gone:
            names = {g.decode() for g in gone}
            message["items"] = [i for i in message["items"] if i["item_id"] not in names]
        return message, popular

    # Model snapshots -------------------------------------------------------------------

    def _model_key(self, version: str) -> str:
        return f"{self.settings.app_id}:model:{version}"

    @property
    def _models_key(self) -> str:
        return f"{self.settings.app_id}:models"

    @property
    def _promoted_key(self) -> str:
        return f"{self.settings.app_id}:promoted"

    async def save_snapshot(self, snapshot: Snapshot, promote: bool, keep: int = 10) -> None:
        """Store a snapshot (and promote it); an existing version is never overwritten (a worker
        serving it would not notice the change).

        The newest ``keep`` snapshots stay, and so does every version in the promotion history
        (which a promotion here trims to its newest ``keep`` entries), so rollback always has
        something to return to.
        """
        models, promoted = self._models_key, self._promoted_key
        if await self.redis.exists(self._model_key(snapshot.version)):
            raise SnapshotError(f"snapshot {snapshot.version!r} exists: versions are immutable")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._model_key(snapshot.version), mapping=cast(Any, encode(snapshot)))
            pipe.zadd(models, {snapshot.version: snapshot.created_at})
            if promote:
                pipe.lpush(promoted, snapshot.version)
                pipe.ltrim(promoted, 0, keep - 1)
            await pipe.execute()
        versions = [_text(v) for v in await self.redis.zrange(models, 0, -1)]
        kept = {_text(v) for v in await self.redis.lrange(promoted, 0, -1)}
        stale = [v for v in versions[:-keep] if v not in kept]
        if stale:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(models, *stale)
                pipe.delete(*[self._model_key(v) for v in stale])
                await pipe.execute()

    async def load_snapshot(self, version: str) -> Snapshot:
        """One snapshot, validated (:class:`SnapshotError` if it must not be served)."""
        return decode(cast(Any, await self.redis.hgetall(self._model_key(version))))

    async def snapshot_metas(self) -> list[dict[str, Any]]:
        """Metadata of every stored snapshot, oldest first."""
        versions = [_text(v) for v in await self.redis.zrange(self._models_key, 0, -1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for v in versions:
                pipe.hget(self._model_key(v), "meta")
            metas = await pipe.execute()
        return [
            orjson.loads(m) if m else {"version": v, "broken": True}
            for v, m in zip(versions, metas, strict=True)
        ]

    async def promoted_version(self) -> str | None:
        head = await self.redis.lindex(self._promoted_key, 0)
        return _text(head) if head else None

    async def promote(self, version: str) -> None:
        if not await self.redis.exists(self._model_key(version)):
            raise KeyError(f"no snapshot {version!r}")
        await self.redis.lpush(self._promoted_key, version)

    async def rollback(self) -> str | None:
        """Un-promote the current version; returns the version now promoted (or None)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(self._promoted_key)
            pipe.lindex(self._promoted_key, 0)
            _, head = await pipe.execute()
        return _text(head) if head else None

    async def read_user_vectors(
        self, users: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[float]]:
        """The stored vectors of (tenant, user) pairs, for those that have one."""
        if not users:
            return {}
        values = await self.redis.mget([f"{t}:u:{u}:vec" for t, u in users])
        return {pair: orjson.loads(v) for pair, v in zip(users, values, strict=True) if v}

    async def write_user_vectors(self, tenant: str, vectors: dict[str, list[float]]) -> None:
        """The learner's latest user vectors, one pipeline per batch."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, vector in vectors.items():
                pipe.set(
                    f"{tenant}:u:{user}:vec", orjson.dumps(vector), ex=self.settings.user_ttl_s
                )
            await pipe.execute()

    async def memory_usage(self, pattern: str, sample: int = 200) -> tuple[int, int]:
        """(keys matching ``pattern``, estimated total bytes from a sample of MEMORY USAGE)."""
        keys = [k async for k in self.redis.scan_iter(match=pattern, count=1000)]
        if not keys:
            return 0, 0
        step = max(1, len(keys) // sample)
        picked = keys[::step]
        async with self.redis.pipeline(transaction=False) as pipe:
            for k in picked:
                pipe.memory_usage(k)
            sizes = await pipe.execute()
        mean = sum(s or 0 for s in sizes) / len(picked)
        return len(keys), int(mean * len(keys))
