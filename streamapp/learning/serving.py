"""The model a worker serves: the newest promoted snapshot, or none (hand-weighted ranking).

A snapshot brings item vectors (the ``mf`` source) and the learned ranker's weights (which
re-order each list's top candidates, :mod:`streamapp.recommend.learned_ranker`).

Polled from Redis; a new version is validated, its retrieval index built in a worker thread and
swapped in. A snapshot that fails validation is never served: the last good one stays, the
failure is counted and logged once, and that version is not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.retrieval import Hits, SwappableIndex, build_for, retrievable
from streamapp.learning.snapshots import SnapshotError
from streamapp.ops import metrics

log = logging.getLogger(__name__)


class ServingModel:
    """Item vectors of the promoted snapshot behind a swappable retrieval index (of the items
    with at least ``min_support`` positives, :func:`streamapp.learning.retrieval.retrievable`)."""

    def __init__(self, min_support: int = 1) -> None:
        self.min_support = min_support
        self.index = SwappableIndex(build_for)
        self.version: str | None = None
        self.ranker: dict[str, float] = {}
        self.failed: set[str] = set()

    async def refresh(self, registry: ModelRegistry) -> None:
        """Follow the promoted version (promote, rollback, or none at all)."""
        promoted = await registry.promoted_version()
        if promoted == self.version or promoted in self.failed:
            return
        if promoted is None:
            log.info("model unloaded: no promoted snapshot, ranking by hand weights")
            self._publish_version(None, {})
            return
        try:
            snapshot = await registry.load(promoted)
        except SnapshotError as exc:
            self.failed.add(promoted)
            metrics.MODEL_LOADS.labels("failed").inc()
            log.warning(
                "model load failed version=%s keeping=%s error=%s", promoted, self.version, exc
            )
            return
        ids, vectors = retrievable(
            snapshot.ids, snapshot.vectors, snapshot.support, self.min_support
        )
        await self.index.rebuild(ids, vectors, promoted)
        metrics.MODEL_LOADS.labels("loaded").inc()
        log.info(
            "model loaded version=%s items=%d retrievable=%d ranker_features=%d",
            promoted,
            len(snapshot.ids),
            len(ids),
            len(snapshot.ranker),
        )
        self._publish_version(promoted, snapshot.ranker)

    def _publish_version(self, version: str | None, ranker: dict[str, float]) -> None:
        self.ranker = ranker
        metrics.RANKER_FEATURES.set(len(ranker))
        if self.version is not None:
            metrics.MODEL_VERSION.remove(self.version)
        self.version = version
        if version is not None:
            metrics.MODEL_VERSION.labels(version).set(1)

    def retrieve(self, users: Sequence[tuple[str, np.ndarray | None]], k: int) -> list[Hits]:
        """Per (tenant, user vector): the tenant's items nearest the vector; nothing without a
        model or a vector. One batched query for all users with a vector.

        Model ids are ``tenant:item`` (one model for every tenant): twice ``k`` are fetched so
        other tenants' items rarely crowd a list out.
        """
        out: list[Hits] = [[] for _ in users]
        asked = [n for n, (_, vector) in enumerate(users) if vector is not None]
        if self.version is None or not asked:
            return out
        matrix = np.asarray([users[n][1] for n in asked], dtype=np.float32)
        for n, hits in zip(asked, self.index.query_many(matrix, 2 * k), strict=True):
            prefix = f"{users[n][0]}:"
            out[n] = [(i[len(prefix) :], s) for i, s in hits if i.startswith(prefix)][:k]
        return out
