"""Snapshot registry in the real Redis: round trip, promote, rollback, retention."""

from __future__ import annotations

import numpy as np
import pytest

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.snapshots import Snapshot, SnapshotError
from streamapp.state.store import Store

pytestmark = pytest.mark.integration


def snapshot(version: str, created: int) -> Snapshot:
    return Snapshot(
        version,
        created,
        created,
        {},
        "pairwise",
        ["a", "b"],
        np.array([[1, 0], [0, 1]], dtype=np.float32),
    )


async def test_round_trip_promote_and_rollback(deployment):
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        assert await registry.promoted_version() is None
        await registry.save(snapshot("v1", 1), promote=True)
        await registry.save(snapshot("v2", 2), promote=True)
        await registry.save(snapshot("v3", 3), promote=False)
        assert await registry.promoted_version() == "v2"
        loaded = await registry.load("v2")
        assert loaded.ids == ["a", "b"] and loaded.vectors.shape == (2, 2)
        assert [m["version"] for m in await registry.metas()] == ["v1", "v2", "v3"]
        with pytest.raises(SnapshotError, match="immutable"):
            await registry.save(snapshot("v2", 9), promote=True)
        assert (await registry.load("v2")).events_seen == 2
        assert await registry.promoted_version() == "v2"

        await registry.promote("v3")
        assert await registry.promoted_version() == "v3"
        assert await registry.rollback() == "v2"
        assert await registry.rollback() == "v1"
        assert await registry.rollback() is None
        with pytest.raises(KeyError):
            await registry.promote("nope")


async def test_only_recent_unpromoted_snapshots_are_kept(deployment):
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        await registry.save(snapshot("keep-me", 0), promote=True, keep=3)
        for n in range(1, 8):
            await registry.save(snapshot(f"v{n}", n), promote=False, keep=3)
        versions = [m["version"] for m in await registry.metas()]
        assert versions == ["keep-me", "v5", "v6", "v7"]
        assert (await registry.load("keep-me")).ids == ["a", "b"]


async def test_a_pruned_snapshot_keeps_its_lineage_until_the_retention_ends(deployment):
    """The model behind an older list is still found with the offsets it was trained to, after
    its vectors went; past the lineage retention it is gone too."""
    day = 86_400_000
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        for n in range(1, 6):
            old = snapshot(f"v{n}", n * day)
            old.offsets = {"clicks:0": n * 100}
            await registry.save(old, promote=False, keep=2, lineage_ms=2 * day)
        assert [m["version"] for m in await registry.metas()] == ["v4", "v5"]
        pruned = await registry.show("v3")
        assert pruned is not None
        assert (pruned["offsets"], pruned["vectors"]) == ({"clicks:0": 300}, "dropped")
        with pytest.raises(SnapshotError, match="lacks"):
            await registry.load("v3")
        assert (await registry.show("v5"))["vectors"] == "kept"
        # v1 and v2 were created more than two days before v5.
        assert await registry.show("v2") is None and await registry.show("v1") is None
        assert deployment.redis.exists(deployment.key("model:v1")) == 0
