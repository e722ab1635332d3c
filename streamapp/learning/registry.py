"""The model registry in Redis: snapshots by version, which one workers serve, and the
candidate a canary rollout serves to a share of users (:mod:`streamapp.learning.rollout`).

Versions are immutable; promotion pushes onto a history that rollback pops, so a bad model is
one command from gone (``streamapp model rollback``). A tenant may be promoted a version of its
own, on a history of its own (``--tenant``): its lists are served by that version, whatever the
deployment's history does, until the tenant's own is rolled back past its first entry. The
keys are in :mod:`streamapp.state.keys`.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from streamapp.databases import AsyncRedis
from streamapp.learning.snapshots import Snapshot, SnapshotError, decode, encode
from streamapp.state import keys
from streamapp.state.replies import text
from streamapp.state.store import Store

__all__ = ["ModelRegistry"]

# What a snapshot loses when it leaves the newest few: all but its metadata.
BULK_FIELDS = ("ids", "vectors", "support")


class ModelRegistry:
    """Save, load, promote and roll back snapshots in the Redis a :class:`Store` talks to."""

    def __init__(self, store: Store) -> None:
        self.redis: AsyncRedis = store.redis
        self.app_id = store.settings.app_id
        self.models = keys.app(self.app_id, "models")
        self.promoted = keys.app(self.app_id, "promoted")
        self.tenants = store.settings.tenants
        self.lineage = keys.app(self.app_id, "lineage")
        self.candidate = keys.app(self.app_id, "candidate")

    def _model(self, version: str) -> str:
        return keys.app(self.app_id, "model", version)

    def _history(self, tenant: str | None) -> str:
        """The promotion history of ``tenant`` (None: the deployment's)."""
        return self.promoted if tenant is None else keys.app(self.app_id, "promoted", tenant)

    async def save(
        self, snapshot: Snapshot, promote: bool, keep: int = 10, lineage_ms: int = 0
    ) -> None:
        """Store a snapshot (and promote it); an existing version is never overwritten (a worker
        serving it would not notice the change).

        The newest ``keep`` snapshots stay whole, and so does every version in the promotion
        history and in any tenant's own (which a promotion here trims to its newest ``keep``
        entries), so rollback always has something to return to. The others lose their
        vectors but keep their metadata for ``lineage_ms`` after their creation: the model
        behind an older list is still found, with the offsets it was trained to.
        """
        if await self.redis.exists(self._model(snapshot.version)):
            raise SnapshotError(f"snapshot {snapshot.version!r} exists: versions are immutable")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._model(snapshot.version), mapping=cast(Any, encode(snapshot)))
            pipe.zadd(self.models, {snapshot.version: snapshot.created_at})
            if promote:
                pipe.lpush(self.promoted, snapshot.version)
                pipe.ltrim(self.promoted, 0, keep - 1)
            await pipe.execute()
        versions = cast(
            list[tuple[bytes, float]], await self.redis.zrange(self.models, 0, -1, withscores=True)
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for history in [self.promoted, *(self._history(t) for t in self.tenants)]:
                pipe.lrange(history, 0, -1)
            kept = {text(v) for found in await pipe.execute() for v in found}
        kept |= {v for v in [await self.candidate_version()] if v}
        stale = {text(v): at for v, at in versions[:-keep] if text(v) not in kept}
        horizon = snapshot.created_at - lineage_ms
        expired = [
            text(v) for v in await self.redis.zrangebyscore(self.lineage, "-inf", f"({horizon}")
        ]
        expired += [v for v, at in stale.items() if at < horizon]
        if not stale and not expired:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            if stale:
                pipe.zrem(self.models, *stale)
                for version in stale:
                    pipe.hdel(self._model(version), *BULK_FIELDS)
                pipe.zadd(self.lineage, stale)
            if expired:
                pipe.zrem(self.lineage, *expired)
                pipe.delete(*[self._model(v) for v in expired])
            await pipe.execute()

    async def show(self, version: str) -> dict[str, Any] | None:
        """A version's metadata, whole or kept for lineage after its vectors went; None when
        it was never saved or has left the lineage too."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self._model(version), "meta")
            pipe.hexists(self._model(version), "vectors")
            meta, whole = await pipe.execute()
        if meta is None:
            return None
        return {**orjson.loads(meta), "vectors": "kept" if whole else "dropped"}

    async def load(self, version: str) -> Snapshot:
        """One snapshot, validated (:class:`SnapshotError` if it must not be served)."""
        return decode(cast(Any, await self.redis.hgetall(self._model(version))))

    async def metas(self) -> list[dict[str, Any]]:
        """Metadata of every stored snapshot, oldest first."""
        versions = [text(v) for v in await self.redis.zrange(self.models, 0, -1)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for v in versions:
                pipe.hget(self._model(v), "meta")
            found = await pipe.execute()
        return [
            orjson.loads(m) if m else {"version": v, "broken": True}
            for v, m in zip(versions, found, strict=True)
        ]

    async def promoted_version(self, tenant: str | None = None) -> str | None:
        """The version serving ``tenant``'s lists (its own promotion, else the deployment's);
        None: the deployment's."""
        head = await self.redis.lindex(self._history(tenant), 0)
        if head is None and tenant is not None:
            return await self.promoted_version()
        return text(head) if head else None

    async def tenant_versions(self) -> dict[str, str]:
        """The tenants promoted a version of their own, and that version."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for tenant in self.tenants:
                pipe.lindex(self._history(tenant), 0)
            heads = await pipe.execute()
        return {t: text(head) for t, head in zip(self.tenants, heads, strict=True) if head}

    async def promote(self, version: str, tenant: str | None = None) -> None:
        """Serve ``version`` from now on (to ``tenant``'s lists alone, when given)."""
        if not await self.redis.exists(self._model(version)):
            raise KeyError(f"no snapshot {version!r}")
        if tenant is not None and tenant not in self.tenants:
            raise KeyError(f"no tenant {tenant!r} (STREAMAPP_TENANTS)")
        await self.redis.lpush(self._history(tenant), version)

    async def candidate_version(self) -> str | None:
        value = await self.redis.get(self.candidate)
        return text(value) if value else None

    async def set_candidate(self, version: str | None) -> None:
        """Serve ``version`` to a rollout's canary users (None: nobody is on a candidate)."""
        if version is None:
            await self.redis.delete(self.candidate)
        elif not await self.redis.hexists(self._model(version), "vectors"):
            raise KeyError(f"no whole snapshot {version!r}")
        else:
            await self.redis.set(self.candidate, version)

    async def newest(self) -> str | None:
        """The most recently created snapshot still whole."""
        found = await self.redis.zrange(self.models, -1, -1)
        return text(found[0]) if found else None

    async def rollback(self, tenant: str | None = None) -> str | None:
        """Un-promote the current version (``tenant``'s own, when given); returns the version
        now serving (or None: hand weights)."""
        history = self._history(tenant)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpop(history)
            pipe.lindex(history, 0)
            _, head = await pipe.execute()
        if head is None and tenant is not None:
            return await self.promoted_version()
        return text(head) if head else None
