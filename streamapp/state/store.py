"""All I/O with Redis: the server-side scripts and the pipelines that run them.

Keys follow the table of :mod:`streamapp.state.keys` (``{<app>}:<tenant>:<kind>:<id>``), the
only place a key is spelled.

Every per-user key carries the idle-user TTL; per-item structures are trimmed to their bound
once per batch, and how many items and categories have them is bounded as well (the idlest
rows go); a reverse index expires a list's lifetime after its last entry. The product table,
prices and margins hold the shop's catalogue (what the inventory topic names) and follow it.
One batch costs one script call (one round trip) per step.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from streamapp.contracts.messages import SOURCES
from streamapp.databases import AsyncRedis, connect
from streamapp.lifecycle import Lifecycle
from streamapp.package_data import folder
from streamapp.settings import Settings
from streamapp.state import keys
from streamapp.state.decay import UNITS, rescale_factor
from streamapp.state.lists import StoredList
from streamapp.state.replies import Scored, pairs, seq, text
from streamapp.state.types import (
    EventRow,
    Gathered,
    InventoryOutcome,
    InventoryRow,
    ListToCommit,
    Outcome,
    Ranking,
    StateGap,
    StateLost,
    TenantSignals,
    UserSignals,
)

LUA_DIR = folder(__package__, "lua")


SOURCE_CODES = {name: code for code, name in enumerate(SOURCES)}  # as lists.py reads them
LISTPACK_ENTRIES = 128  # Redis's default zset-max-listpack-entries

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

# KEYS = epoch, rebuilds; ARGV = candidate. Atomic: the note and the epoch in one state.
ESTABLISH_EPOCH = """
if redis.call('SREM', KEYS[2], ARGV[1]) == 0 then return false end
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""


def _factors(value: bytes | None) -> np.ndarray | None:
    """A stored factor vector (``t:u:U:factors``), or None for none (or bytes that cannot be
    one: the learner writes the vector again on the user's next event).

    >>> _factors(np.asarray([0.5, -2.0], dtype=np.float32).tobytes()).tolist()
    [0.5, -2.0]
    >>> _factors(b"[0.5]") is None, _factors(None) is None
    (True, True)
    """
    if not value or len(value) % 4:
        return None
    return np.frombuffer(value, dtype=np.float32)


def _tuple(value: Any) -> tuple[Any, ...]:
    """The rows of :mod:`.types` are named tuples, which orjson leaves to its ``default``."""
    if isinstance(value, tuple):
        return tuple(value)
    raise TypeError(f"{type(value).__name__} is not a script argument")


def _argument(request: dict[str, Any]) -> bytes:
    """A script's one argument: the request as JSON, rows as arrays."""
    return orjson.dumps(request, default=_tuple)


@dataclass(frozen=True)
class ServingView:
    """What the HTTP API answers from (:meth:`Store.serving_view`)."""

    current: dict[str, Any] | None  # the user's list, without items out of stock since
    popular: Scored
    unavailable: set[str]  # pinned items that cannot be shown
    kinds: dict[str, tuple[str | None, str | None]]  # category and brand of those items


_REBUILDING: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "rebuilding", default=None
)


class Store(Lifecycle):
    """Async access to streamapp's state in Redis. ``async with Store(settings) as store:``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A Redis that stops answering (frozen, partitioned) must fail a call, not hang it: the
        # batch runner then retries and reports the stall.
        self.redis: AsyncRedis = connect(
            settings,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        self._ingest = self._script("guard", "record", "ingest")
        self._commit = self._script("record", "stored_list", "commit")
        self._serving_view = self._script("record", "stored_list", "serving_view")
        self._kept_rankings = self._script("record", "kept_rankings")
        self._inventory = self._script("guard", "ruled", "inventory")
        self._rule_block = self._script("ruled", "rule_block")
        self._establish = self.redis.register_script(ESTABLISH_EPOCH)
        self._advance = self._script("guard", "advance")
        self._rescale = self._script("guard", "rescale")
        self._landmark = self._script("landmark")
        self._config = {name: getattr(settings, name) for name in INGEST_CONFIG}
        self._config["listpack_entries"] = LISTPACK_ENTRIES
        self._landmarks: dict[str, float] = {}
        self._prefix = keys.prefix(settings.app_id)
        # The epoch the scripts check, once :mod:`streamapp.state.continuity` guards this store (a
        # worker; the evaluator and tools write without); None until it has adopted one.
        self.guarded = False
        self.epoch: str | None = None
        # Per partition, the first offset of a batch refused for starting past its watermark.
        self.gaps: dict[str, int] = {}

    async def _call(self, script: AsyncScript, request: dict[str, Any]) -> Any:
        """Run ``script`` on ``request`` (its one argument, with the deployment's key prefix
        added). Every key it touches is in the deployment's hash slot: the call names one of
        them, the watermark key, by which a cluster routes it to the node that serves it."""
        request["prefix"] = self._prefix
        return await script(keys=[self.watermark_key], args=[_argument(request)])

    def _script(self, *parts: str) -> AsyncScript:
        """A script from ``lua/`` parts, the helpers first (``guard`` where the script is
        guarded, ``record`` where it reads users' records, ``stored_list`` where it reads
        stored lists)."""
        source = "".join((LUA_DIR / f"{part}.lua").read_text() for part in parts)
        return self.redis.register_script(source)

    async def start(self) -> None:
        await self.redis.ping()
        self._config["listpack_entries"] = await self._listpack_entries()

    async def _listpack_entries(self) -> int:
        """Up to how many members the server keeps a sorted set compact (ingest.lua keeps the
        bounded ones so); Redis's default where the server refuses CONFIG (managed ones)."""
        try:
            reply = await self.redis.config_get("zset-max-listpack-entries")
        except ResponseError:
            return LISTPACK_ENTRIES
        return int(next(iter(reply.values()), None) or LISTPACK_ENTRIES)

    async def stop(self) -> None:
        await self.redis.aclose()

    async def forget(self) -> None:
        """Delete every key of this deployment (those under its hash tag), a thousand at a
        time: the evaluator and the bench start from nothing and leave nothing without touching
        another deployment that shares the Redis, or the cluster (which has one database)."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "*"
        found: list[bytes] = []
        async for key in self.redis.scan_iter(match=pattern, count=1000):
            found.append(key)
            if len(found) == 1000:
                await self.redis.unlink(*found)
                found.clear()
        if found:
            await self.redis.unlink(*found)

    @property
    def watermark_key(self) -> str:
        return keys.app(self.settings.app_id, "wm")

    async def watermarks(self) -> dict[str, int]:
        """The last applied offset of every input ``topic:partition`` the state has seen."""
        raw = await self.redis.hgetall(self.watermark_key)
        return {text(tp): int(offset) for tp, offset in raw.items()}

    async def forget_watermarks(self, partitions: list[str]) -> None:
        """Drop the watermarks of partitions whose log is not the one they were taken from."""
        if partitions:
            await self.redis.hdel(self.watermark_key, *partitions)

    @property
    def epoch_key(self) -> str:
        return keys.app(self.settings.app_id, "epoch")

    async def stored_epoch(self) -> str | None:
        value = await self.redis.get(self.epoch_key)
        return None if value is None else text(value)

    async def begin_rebuild(self, candidate: str) -> None:
        """Note a rebuild that will set epoch ``candidate`` (see :meth:`establish_epoch`)."""
        await self.redis.sadd(self._rebuilds_key, candidate)

    async def establish_epoch(self, candidate: str) -> str | None:
        """Make ``candidate`` the epoch unless another worker set one first; returns the one
        that holds, or None if Redis lost the state again during the rebuild (the note of
        :meth:`begin_rebuild` is gone with it: the rebuild wrote into a state that is not
        whole, and starts again)."""
        epoch = await self._establish(keys=[self.epoch_key, self._rebuilds_key], args=[candidate])
        return None if epoch is None else text(epoch)

    @property
    def _rebuilds_key(self) -> str:
        return keys.app(self.settings.app_id, "rebuilds")

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
        raw = await self.redis.hgetall(keys.app(self.settings.app_id, "logs"))
        return {text(topic): text(topic_id) for topic, topic_id in raw.items()}

    async def record_log_id(self, topic: str, topic_id: str) -> None:
        await self.redis.hset(keys.app(self.settings.app_id, "logs"), topic, topic_id)

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
        self._reply(await self._call(self._advance, self._checked(request)))

    async def landmark(self, tenant: str, first_ts: float) -> float:
        """The tenant's forward-decay landmark, set to ``first_ts`` by the very first event.

        Cached while the process works in one epoch: a rescale (:meth:`rescale`) or a rebuild
        changes the epoch, and with it every worker reads the landmark again.

        A state written before decayed sums were whole units (its landmark has no
        ``t:units`` beside it) is converted here first: every score times ``UNITS``, the
        landmark kept (:meth:`rescale`).
        """
        cached = self._landmarks.get(tenant)
        while cached is None:
            app = self.settings.app_id
            pair = [keys.tenant(app, tenant, "landmark"), keys.tenant(app, tenant, "units")]
            value, units = await self._landmark(keys=pair, args=[int(first_ts), UNITS])
            if units is None:
                await self.rescale(tenant, float(value), int(value), from_units=1.0)
            else:
                cached = self._landmarks[tenant] = float(value)
        return cached

    async def rescale(
        self, tenant: str, landmark: float, new_landmark: int, from_units: float = UNITS
    ) -> bool:
        """Move ``tenant``'s landmark from ``landmark`` to ``new_landmark``, every decayed score
        with it, in one script (``lua/rescale.lua``); the state gets a new epoch, which this
        process adopts. False if another worker moved it first (the landmark is read again).
        ``from_units``: what the stored sums count now (1.0: weights, a state from before
        ``UNITS``); they count ``UNITS`` after.

        Within a rebuild the epoch is the rebuild's to set, and its end to adopt: a rescale
        there sets none when the state has none yet, and adopts nothing.
        """
        rebuild = _REBUILDING.get()
        epoch = uuid.uuid4().hex
        request: dict[str, Any] = {
            "tenant": tenant,
            "old": int(landmark),
            "new": new_landmark,
            "factor": rescale_factor(landmark, new_landmark, self.settings.decay_rate)
            * UNITS
            / from_units,
            "from_units": from_units,
            "units": UNITS,
            "epoch_key": self.epoch_key,
        }
        if rebuild is None or rebuild[0] == "epoch":
            request["epoch"] = epoch
        reply = self._reply(await self._call(self._rescale, self._checked(request)))
        if reply["moved"] and rebuild is None:
            self.adopt(epoch)
        else:
            self._landmarks.pop(tenant, None)
        return bool(reply["moved"])

    async def ingest(
        self,
        events: list[EventRow],
        users: list[tuple[str, str]],
        spans: dict[str, tuple[int, int]] | None = None,
        cosine: bool = True,
        kinds: bool = False,
    ) -> Gathered:
        """Apply a batch of interactions and gather ranking state for ``users``, atomically.

        ``spans``: per ``topic:partition`` the batch's first and last offset, dead-lettered
        records included (a worker's batch; see ``lua/ingest.lua``). ``cosine``: also gather
        the popularity the ``cosine`` source divides by (one more read per session item, so
        the worker asks only while a weight set uses that source). ``kinds``: also gather the
        candidates' category and brand (while a rule boosts or buries by them).
        """
        if not events and not users and not spans:
            return Gathered([], [], {})
        request = {
            "wm": self.watermark_key,
            "spans": spans or {},
            "cfg": self._config,
            "events": events,
            "users": users,
            "cosine": cosine,
            "kinds": kinds,
        }
        raw = await self._call(self._ingest, self._checked(request))
        body, vectors = (raw[0], raw[1:]) if isinstance(raw, list) else (raw, [])
        reply = self._continuing(body, spans or {})
        covisit: dict[str, dict[str, Scored]] = {}
        sequence: dict[str, dict[str, Scored]] = {}
        category: dict[str, dict[str, Scored]] = {}
        arrivals: dict[str, dict[str, Scored]] = {}
        tenants: dict[str, TenantSignals] = {}
        for t, v in (reply["tenants"] or {}).items():
            covisit[t] = {item: pairs(flat) for item, flat in (v["covisit"] or {}).items()}
            sequence[t] = {item: pairs(flat) for item, flat in (v["sequence"] or {}).items()}
            category[t] = {cat: pairs(flat) for cat, flat in (v["category"] or {}).items()}
            arrivals[t] = {cat: pairs(flat) for cat, flat in (v["new"] or {}).items()}
            flat = seq(v["attributes"])
            triples = list(zip(flat[::3], flat[1::3], flat[2::3], strict=True))
            named = seq(v.get("kinds"))
            attributed = zip(named[::3], named[1::3], named[2::3], strict=True)
            tenants[t] = TenantSignals(
                popular=pairs(v["popular"]),
                catalog=seq(v["catalog"]),
                blocked=set(seq(v["blocked"])),
                prices={item: float(price) for item, price, _ in triples if price is not False},
                margins={item: float(m) for item, _, m in triples if m is not False},
                popularity={item: float(p) for item, p in (v["popularity"] or {}).items()},
                kinds={item: (cat or None, brand or None) for item, cat, brand in attributed},
            )
        signals: list[UserSignals] = []
        for (t, u, recent, cats, bought, history), vector in zip(
            seq(reply["users"]), vectors, strict=True
        ):
            categories = pairs(cats)
            window = seq(recent)[: self.settings.covisit_window]
            signals.append(
                UserSignals(
                    tenant=t,
                    user_id=u,
                    recent=seq(recent),
                    covisit=[covisit[t][item] for item in window],
                    sequence=[sequence[t][item] for item in window],
                    categories=categories,
                    category_popular=[category[t][c] for c, _ in categories],
                    category_new=[arrivals[t][c] for c, _ in categories],
                    purchased=set(seq(bought)),
                    history=pairs(history),
                    vector=_factors(vector),
                )
            )
        status = [Outcome(s) for s in seq(reply["status"])]
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
            "codes": SOURCE_CODES,
            "lists": lists,
        }
        result = await self._call(self._commit, request)
        return [(source.decode(), message) for source, message in result]

    async def rankings(self, users: list[tuple[str, str]]) -> dict[tuple[str, str], Ranking]:
        """The users' last rankings a stock-out is answered from (``lua/kept_rankings.lua``):
        those with a full list still in stock. A user missing from the answer is ranked again."""
        if not users:
            return {}
        request = {"k": self.settings.top_k, "users": users}
        stored = await self._call(self._kept_rankings, request)
        out = {}
        for user, raw in zip(users, stored, strict=True):
            list_ = StoredList.parse(raw) if raw else None
            if list_ is not None:
                out[user] = Ranking(list_.version, list_.ranked(), list_.whole)
        return out

    async def apply_inventory(
        self,
        events: list[InventoryRow],
        now_ms: int,
        spans: dict[str, tuple[int, int]] | None = None,
    ) -> list[InventoryOutcome]:
        """Upsert products and the out-of-stock set (see ``lua/inventory.lua``); a stock-out
        names the users whose list, as of ``now_ms``, is still within its lifetime.
        ``spans`` as for :meth:`ingest`.
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
        raw = await self._call(self._inventory, self._checked(request))
        reply = self._continuing(raw, spans or {})
        return [
            InventoryOutcome(Outcome(status), transition, seq(users), page)
            for status, transition, users, page in reply
        ]

    def _list_horizon(self, now_ms: int) -> int:
        """Lists committed before this instant have expired."""
        return now_ms - self.settings.user_ttl_s * 1000

    async def shown_to(self, tenant: str, item: str, now_ms: int) -> AsyncIterator[list[str]]:
        """The users whose current list holds ``item``, ``refresh_chunk`` or so at a time (for
        an index too long to read in one call; a user may come twice)."""
        horizon = self._list_horizon(now_ms)
        key = keys.tenant(self.settings.app_id, tenant, "shown", item)
        cursor = 0
        while True:
            cursor, page = await self.redis.zscan(key, cursor, count=self.settings.refresh_chunk)
            yield [text(user) for user, score in page if float(score) >= horizon]
            if cursor == 0:
                return

    async def rule_effect(
        self,
        tenant: str,
        table: str,
        rule_id: str,
        target: str,
        mode: str,
        items: list[str],
        now_ms: int,
    ) -> list[tuple[str, list[str], bool]]:
        """A rule's effect on a chunk of its items (``lua/rule_block.lua``; ``table``
        ruled, allowed or sensitive; ``mode`` add, remove or touch): per item shown to anyone,
        the users whose list, as of ``now_ms``, shows it, or True to page them with
        :meth:`shown_to`."""
        request = {
            "tenant": tenant,
            "table": table,
            "rule": rule_id,
            "target": target,
            "mode": mode,
            "items": items,
            "horizon": self._list_horizon(now_ms),
            "chunk": self.settings.refresh_chunk,
        }
        reply = orjson.loads(await self._call(self._rule_block, request))
        return [(item, seq(users), bool(page)) for item, users, page in seq(reply)]

    async def items_of(self, tenant: str, kind: str, value: str) -> AsyncIterator[list[str]]:
        """The items whose ``kind`` (``category`` or ``brand``) is ``value`` in the product
        table, a page at a time (a scan of the item → kind copy)."""
        key = keys.tenant(self.settings.app_id, tenant, kind)
        cursor = 0
        while True:
            cursor, page = await self.redis.hscan(key, cursor, count=1000)
            found = cast(dict[bytes, bytes], page)
            yield [text(item) for item, named in found.items() if text(named) == value]
            if cursor == 0:
                return

    async def rules_applied(self, tenant: str) -> dict[str, bytes]:
        """Per rule id, the version (its record) whose start the state and lists have taken."""
        key = keys.tenant(self.settings.app_id, tenant, "rules")
        stored = dict(await self.redis.hgetall(key))
        return {text(k): v if isinstance(v, bytes) else v.encode() for k, v in stored.items()}

    async def mark_rule(self, tenant: str, rule_id: str, record: bytes | None) -> None:
        """Note that a rule's start (``record``, its version) or end (None) is carried out."""
        key = keys.tenant(self.settings.app_id, tenant, "rules")
        if record is None:
            await self.redis.hdel(key, rule_id)
        else:
            await self.redis.hset(key, rule_id, record)

    async def hold_rule(self, tenant: str, rule_id: str, seconds: float) -> bool:
        """Take the carrying out of a rule's start or end, for ``seconds`` at most (another
        worker takes over if this one stops half-way); False when another worker has it."""
        key = keys.tenant(self.settings.app_id, tenant, "rulelock", rule_id)
        return bool(await self.redis.set(key, b"1", nx=True, px=int(seconds * 1000)))

    async def release_rule(self, tenant: str, rule_id: str) -> None:
        await self.redis.delete(keys.tenant(self.settings.app_id, tenant, "rulelock", rule_id))

    async def serving_view(
        self,
        tenant: str,
        user_id: str,
        top_up: int,
        exclude: Sequence[str] = (),
        pinned: Sequence[str] = (),
        kinds: bool = False,
    ) -> ServingView:
        """What the HTTP API answers from, in one script call (``lua/serving_view.lua``): the
        user's last list without the items that went out of stock since it was made, up to
        ``top_up`` in-stock items by popularity that the user has not bought and the caller did
        not exclude (scored in weights at the landmark: the stored units over ``UNITS``), which
        ``pinned`` items cannot be shown, and, with ``kinds`` (a rule in force picks items by
        category or brand), the category and brand of those items."""
        app = self.settings.app_id
        read = [
            keys.user(app, tenant, user_id, "record"),
            keys.tenant(app, tenant, "oos"),
            keys.tenant(app, tenant, "pop"),
            keys.user(app, tenant, user_id, "bought"),
            keys.tenant(app, tenant, "category"),
            keys.tenant(app, tenant, "brand"),
        ]
        asked = orjson.dumps({"exclude": list(exclude), "pinned": list(pinned), "kinds": kinds})
        raw, gone, flat, unavailable, named = await self._serving_view(
            keys=read, args=[top_up, asked]
        )
        popular = [(flat[i].decode(), float(flat[i + 1]) / UNITS) for i in range(0, len(flat), 2)]
        attributes = {
            text(item): (category and text(category), brand and text(brand))
            for item, category, brand in zip(named[::3], named[1::3], named[2::3], strict=True)
        }
        stored = StoredList.parse(raw) if raw is not None else None
        current = None if stored is None else stored.message({g.decode() for g in gone})
        return ServingView(current, popular, {text(i) for i in unavailable}, attributes)

    async def read_user_vectors(
        self, users: list[tuple[str, str]]
    ) -> dict[tuple[str, str], list[float]]:
        """The stored vectors of (tenant, user) pairs, for those that have one."""
        if not users:
            return {}
        app = self.settings.app_id
        values = await self.redis.mget([keys.user(app, t, u, "factors") for t, u in users])
        out: dict[tuple[str, str], list[float]] = {}
        for pair, value in zip(users, values, strict=True):
            vector = _factors(value) if isinstance(value, bytes) else None
            if vector is not None:
                out[pair] = vector.tolist()
        return out

    async def write_user_vectors(self, tenant: str, vectors: dict[str, list[float]]) -> None:
        """The learner's latest user vectors, one pipeline per batch, as float32 bytes: the
        precision of the item vectors they are scored against, in a third of their JSON, and
        read without parsing."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user, vector in vectors.items():
                key = keys.user(self.settings.app_id, tenant, user, "factors")
                value = np.asarray(vector, dtype=np.float32).tobytes()
                pipe.set(key, value, ex=self.settings.user_ttl_s)
            await pipe.execute()
