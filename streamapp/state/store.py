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
t:cvitems             zset     items with a t:cv row, by last event (the idlest rows dropped)
t:categories          zset     categories with t:catpop/t:new rows, likewise
t:item:I              hash     product table: stock, price, margin, category, brand, ts
t:price, t:margin     hash     item → price, item → margin (copies the gather reads in bulk)
t:oos                 set      out-of-stock items
t:instock             zset     in-stock items by last update (last-resort candidates)
t:shown:I             zset     reverse index: users whose current list has I, by time
t:u:U:vec             string   the user's factor vector (JSON floats), written by the learner
<app>:wm              hash     per topic:partition, the last applied input offset
<app>:logs            hash     per input topic, the id of the topic the watermarks are from
<app>:epoch           string   the state's epoch: set once the state is whole, gone with it
<app>:rebuilds        set      epochs of rebuilds under way (gone if Redis loses the state)
<app>:models          zset     model snapshot versions by creation time
<app>:model:V         hash     snapshot V: meta (JSON), ids (JSON), vectors (float32)
<app>:promoted        list     promoted versions, newest first (rollback pops the head)
====================  =======  ==========================================================

Every per-user key carries the idle-user TTL; per-item structures are trimmed to their bound
once per batch, and how many items and categories have them is bounded as well (the idlest
rows go); a reverse index expires a list's lifetime after its last entry. The product table,
prices and margins hold the shop's catalogue (what the inventory topic names) and follow it.
One batch costs one script call (one round trip) per step.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from streamapp.failures import Transient
from streamapp.learning.snapshots import Snapshot, SnapshotError, decode, encode
from streamapp.lifecycle import Lifecycle
from streamapp.package_data import folder
from streamapp.settings import Settings
from streamapp.state.decay import rescale_factor

LUA_DIR = folder(__package__, "lua")


class Outcome(IntEnum):
    """What a state script did with one event (the numbers the Lua scripts answer with)."""

    APPLIED = 1
    DUPLICATE = 2  # an event id the user's dedupe window holds
    REPLAYED = 3  # an offset at or below its partition's watermark
    STALE = 4  # an inventory update older than the one stored

    @property
    def label(self) -> str:
        """The ``outcome`` label of ``streamapp_events_total``.

        >>> Outcome(3).label
        'replayed'
        """
        return self.name.lower()


# The settings a script reads, passed with every call so that a script holds no configuration.
INGEST_CONFIG = (
    "seen_event_ids",
    "user_items_max",
    "user_categories_max",
    "covisit_max",
    "covisit_items_max",
    "categories_max",
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

# KEYS = epoch, rebuilds; ARGV = candidate. Atomic: the note and the epoch in one state.
ESTABLISH_EPOCH = """
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


class StateGap(Transient):
    """A batch starts past its partition's watermark + 1: the records in between are not in the
    state (a failover to a replica that lagged). Nothing was changed; the caller applies them
    (:mod:`streamapp.state.continuity`, from ``Store.gaps``) and tries again."""

    def __init__(self, gaps: dict[str, int]) -> None:
        super().__init__(f"the state lacks records before this batch: {gaps}")
        self.gaps = gaps  # per partition, the state's watermark


_REBUILDING: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "rebuilding", default=None
)


class StateLost(Transient):
    """The state is not the epoch this process knows: Redis lost it (restarted without its
    data, flushed) or another worker rebuilt it since. Nothing was changed; the caller recovers
    (:mod:`streamapp.state.continuity`) and tries again."""


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

    status: list[Outcome]
    users: list[UserSignals]
    tenants: dict[str, TenantSignals]


@dataclass
class InventoryOutcome:
    """What one inventory event did: applied or stale, the stock transition, users to refresh."""

    status: Outcome
    transition: str
    affected_users: list[str]
    # Too many users to name in the script's reply: page them with Store.shown_to.
    page: bool = False


class Store(Lifecycle):
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
        guard = (LUA_DIR / "guard.lua").read_text()
        self._ingest = self.redis.register_script(guard + (LUA_DIR / "ingest.lua").read_text())
        self._commit = self.redis.register_script((LUA_DIR / "commit.lua").read_text())
        self._kept_rankings = self.redis.register_script(
            (LUA_DIR / "kept_rankings.lua").read_text()
        )
        self._inventory = self.redis.register_script(
            guard + (LUA_DIR / "inventory.lua").read_text()
        )
        self._top_up = self.redis.register_script((LUA_DIR / "top_up.lua").read_text())
        self._establish = self.redis.register_script(ESTABLISH_EPOCH)
        self._advance = self.redis.register_script(guard + (LUA_DIR / "advance.lua").read_text())
        self._rescale = self.redis.register_script(guard + (LUA_DIR / "rescale.lua").read_text())
        self._config = {name: getattr(settings, name) for name in INGEST_CONFIG}
        self._landmarks: dict[str, float] = {}
        # The epoch the scripts check, once :mod:`streamapp.state.continuity` guards this store (a
        # worker; the evaluator and tools write without); None until it has adopted one.
        self.guarded = False
        self.epoch: str | None = None
        # Per partition, the first offset of a batch refused for starting past its watermark.
        self.gaps: dict[str, int] = {}

    async def start(self) -> None:
        await self.redis.ping()

    async def stop(self) -> None:
        await self.redis.aclose()

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

    @property
    def epoch_key(self) -> str:
        return f"{self.settings.app_id}:epoch"

    async def stored_epoch(self) -> str | None:
        value = await self.redis.get(self.epoch_key)
        return None if value is None else _text(value)

    async def begin_rebuild(self, candidate: str) -> None:
        """Note a rebuild that will set epoch ``candidate`` (see :meth:`establish_epoch`)."""
        await self.redis.sadd(self._rebuilds_key, candidate)

    async def establish_epoch(self, candidate: str) -> str | None:
        """Make ``candidate`` the epoch unless another worker set one first; returns the one
        that holds, or None if Redis lost the state again during the rebuild (the note of
        :meth:`begin_rebuild` is gone with it: the rebuild wrote into a state that is not
        whole, and starts again)."""
        epoch = await self._establish(keys=[self.epoch_key, self._rebuilds_key], args=[candidate])
        return None if epoch is None else _text(epoch)

    @property
    def _rebuilds_key(self) -> str:
        return f"{self.settings.app_id}:rebuilds"

    def adopt(self, epoch: str | None) -> None:
        """Work in ``epoch`` from now on (None: in none, every guarded call fails with
        :class:`StateLost`). Cached landmarks belong to the state they were read from."""
        self.epoch = epoch
        self._landmarks.clear()

    @contextlib.contextmanager
    def rebuilding(self, epoch: str | None, candidate: str) -> Iterator[None]:
        """Within the block, in this task only, calls are checked against the state being
        rebuilt: ``epoch`` if it is set, else the note of rebuild ``candidate``. Other tasks
        stay checked against the adopted epoch (and fail until there is one)."""
        guard = ("epoch", epoch) if epoch is not None else ("rebuild", candidate)
        token = _REBUILDING.set(guard)
        try:
            yield
        finally:
            _REBUILDING.reset(token)

    async def log_ids(self) -> dict[str, str]:
        """Per input topic, the id of the topic the state's watermarks were taken from."""
        raw = await self.redis.hgetall(f"{self.settings.app_id}:logs")
        return {_text(topic): _text(topic_id) for topic, topic_id in raw.items()}

    async def record_log_id(self, topic: str, topic_id: str) -> None:
        await self.redis.hset(f"{self.settings.app_id}:logs", topic, topic_id)

    def _checked(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` with what its script must find to go ahead (``lua/guard.lua``)."""
        if self.guarded:
            kind, value = _REBUILDING.get() or ("epoch", self.epoch or "")
            key = self.epoch_key if kind == "epoch" else self._rebuilds_key
            request["guard"] = [kind, key, value]
        return request

    def _reply(self, raw: bytes) -> Any:
        reply = orjson.loads(raw)
        if isinstance(reply, dict) and reply.get("lost"):
            self.adopt(None)
            raise StateLost("the state in Redis is not the one this worker works in")
        if isinstance(reply, dict) and reply.get("gaps"):
            raise StateGap(reply["gaps"])
        return reply

    def _continuing(self, raw: bytes, spans: dict[str, tuple[int, int]]) -> Any:
        """:meth:`_reply` of a batch with ``spans``, noting where a refused one starts."""
        try:
            return self._reply(raw)
        except StateGap as gap:
            self.gaps.update({tp: spans[tp][0] for tp in gap.gaps})
            raise

    async def advance_watermark(self, tp: str, offset: int) -> None:
        """The records of ``tp`` up to ``offset`` are all applied (or no longer in the log)."""
        request = {"wm": self.watermark_key, "tp": tp, "offset": offset}
        self._reply(await self._advance(args=[orjson.dumps(self._checked(request))]))

    async def landmark(self, tenant: str, first_ts: float) -> float:
        """The tenant's forward-decay landmark, set to ``first_ts`` by the very first event.

        Cached while the process works in one epoch: a rescale (:meth:`rescale`) or a rebuild
        changes the epoch, and with it every worker reads the landmark again.
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

    async def rescale(self, tenant: str, landmark: float, new_landmark: int) -> bool:
        """Move ``tenant``'s landmark from ``landmark`` to ``new_landmark``, every decayed score
        with it, in one script (``lua/rescale.lua``); the state gets a new epoch, which this
        process adopts. False if another worker moved it first (the landmark is read again).

        Within a rebuild the epoch is the rebuild's to set, and its end to adopt: a rescale
        there sets none when the state has none yet, and adopts nothing.
        """
        rebuild = _REBUILDING.get()
        epoch = uuid.uuid4().hex
        request: dict[str, Any] = {
            "tenant": tenant,
            "old": int(landmark),
            "new": new_landmark,
            "factor": rescale_factor(landmark, new_landmark, self.settings.decay_rate),
            "epoch_key": self.epoch_key,
        }
        if rebuild is None or rebuild[0] == "epoch":
            request["epoch"] = epoch
        reply = self._reply(await self._rescale(args=[orjson.dumps(self._checked(request))]))
        if reply["moved"] and rebuild is None:
            self.adopt(epoch)
        else:
            self._landmarks.pop(tenant, None)
        return bool(reply["moved"])

    async def ingest(
        self,
        events: list[tuple[Any, ...]],
        users: list[tuple[str, str]],
        spans: dict[str, tuple[int, int]] | None = None,
    ) -> Gathered:
        """Apply a batch of interactions and gather ranking state for ``users``, atomically.

        ``events`` rows are ``(tenant, "topic:partition", offset, event_id, user, item,
        category or False, forward_weight, ts, purchased 0|1, price or False)``: a price is
        only known from logs that carry one (the evaluator's REES46); inventory events are the
        product table's usual source. ``spans``: per ``topic:partition`` the batch's first and
        last offset, dead-lettered records included (a worker's batch; see ``lua/ingest.lua``).
        """
        if not events and not users and not spans:
            return Gathered([], [], {})
        request = {
            "wm": self.watermark_key,
            "spans": spans or {},
            "cfg": self._config,
            "events": events,
            "users": users,
        }
        raw = await self._ingest(args=[orjson.dumps(self._checked(request))])
        reply = self._continuing(raw, spans or {})
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
        status = [Outcome(s) for s in _seq(reply["status"])]
        return Gathered(status=status, users=signals, tenants=tenants)

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
        """The users' last rankings a stock-out is answered from (``lua/kept_rankings.lua``):
        those with a full list still in stock. A user missing from the answer is ranked again."""
        if not users:
            return {}
        depth = 2 * self.settings.top_k
        request = {"k": self.settings.top_k, "depth": depth, "users": users}
        stored = await self._kept_rankings(args=[orjson.dumps(request)])
        out = {}
        for user, raw in zip(users, stored, strict=True):
            if raw:
                version, ranked = orjson.loads(raw)
                out[user] = Ranking(version, [(i, f, s) for i, f, s in _seq(ranked)])
        return out

    async def apply_inventory(
        self,
        events: list[tuple[str, str, int, int, dict[str, Any], str, int]],
        now_ms: int,
        spans: dict[str, tuple[int, int]] | None = None,
    ) -> list[InventoryOutcome]:
        """Upsert products and the out-of-stock set (see ``lua/inventory.lua``); a stock-out
        names the users whose list, as of ``now_ms``, is still within its lifetime.

        ``events`` rows are ``(tenant, item, ts, stock, product fields, "topic:partition",
        offset)``; ``spans`` as for :meth:`ingest`.
        """
        if not events and not spans:
            return []
        cfg = {
            "new_arrivals_max": self.settings.new_arrivals_max,
            "refresh_chunk": self.settings.refresh_chunk,
        }
        request = {
            "wm": self.watermark_key,
            "spans": spans or {},
            "cfg": cfg,
            "horizon": self._list_horizon(now_ms),
            "events": events,
        }
        raw = await self._inventory(args=[orjson.dumps(self._checked(request))])
        reply = self._continuing(raw, spans or {})
        return [
            InventoryOutcome(Outcome(status), transition, _seq(users), page)
            for status, transition, users, page in reply
        ]

    def _list_horizon(self, now_ms: int) -> int:
        """Lists committed before this instant have expired."""
        return now_ms - self.settings.user_ttl_s * 1000

    async def shown_to(self, tenant: str, item: str, now_ms: int) -> AsyncIterator[list[str]]:
        """The users whose current list holds ``item``, ``refresh_chunk`` or so at a time (for
        an index too long to read in one call; a user may come twice)."""
        horizon = self._list_horizon(now_ms)
        key = f"{tenant}:shown:{item}"
        cursor = 0
        while True:
            cursor, page = await self.redis.zscan(key, cursor, count=self.settings.refresh_chunk)
            yield [_text(user) for user, score in page if float(score) >= horizon]
            if cursor == 0:
                return

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
            await self._top_up(
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
