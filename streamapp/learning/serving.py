"""The models a worker serves: the promoted snapshot, the candidate under a canary rollout,
and any version a running experiment names; with none, ranking is by hand weights.

A snapshot brings item vectors (the ``mf`` source) and the learned ranker's weights (which
re-order each list's top candidates, :mod:`streamapp.recommend.learned_ranker`).

Polled from Redis; a new version is validated, its retrieval index built in a worker thread and
swapped in. A snapshot that fails validation is never served: the last good one stays in its
role, the failure is counted and logged once, and that version is not retried. A user whose
treatment names a model that is not loaded (none yet, or refused) is served the promoted one,
and the list says so (its ``model_version``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.retrieval import Hits, Index, build_for, retrievable
from streamapp.learning.snapshots import SnapshotError
from streamapp.ops import metrics

__all__ = ["CANDIDATE", "PROMOTED", "Served", "ServingModel"]

log = logging.getLogger(__name__)

# The two roles a treatment can name instead of a version.
PROMOTED = "promoted"
CANDIDATE = "candidate"
# The role of a tenant's own promoted version: this prefix and the tenant.
OWN = "tenant:"


@dataclass(frozen=True)
class Served:
    """One loaded snapshot: its retrieval index, each tenant's ranker weights and the tenants
    whose ranker is adopted (None: all, a snapshot from before adoption; ``shared_ranker``:
    one from before per-tenant rankers, for every tenant)."""

    version: str
    index: Index
    rankers: Mapping[str, dict[str, float]]
    adopted_by: frozenset[str] | None = None
    shared_ranker: dict[str, float] = field(default_factory=dict)

    def ranker_for(self, tenant: str) -> dict[str, float] | None:
        """The tenant's ranker weights where they beat the hand weights, else None (the hand
        order)."""
        if self.adopted_by is None or tenant in self.adopted_by:
            return self.rankers.get(tenant) or self.shared_ranker or None
        return None

    @property
    def ranker_features(self) -> int:
        """The features of its largest ranker (0: none learned)."""
        return max(map(len, [*self.rankers.values(), self.shared_ranker]))


class ServingModel:
    """The loaded snapshots, each behind a retrieval index of the items with at least
    ``min_support`` positives (:func:`streamapp.learning.retrieval.retrievable`). Only the
    worker's is ``exported`` to Prometheus (the learner loads models to judge them, not to
    serve them)."""

    def __init__(self, min_support: int = 1, exported: bool = True) -> None:
        self.min_support = min_support
        self.exported = exported
        self.loaded: dict[str, Served] = {}
        self.roles: dict[str, str] = {}  # promoted, candidate or a version → the version
        self.failed: set[str] = set()

    @property
    def version(self) -> str | None:
        """The promoted version (None: hand weights for everyone)."""
        return self.roles.get(PROMOTED)

    @property
    def ranker_features(self) -> int:
        served = self.served(None)
        return served.ranker_features if served else 0

    def served(self, model: str | None, tenant: str | None = None) -> Served | None:
        """What a treatment's ``model`` (None: the promoted one; ``tenant``'s own promoted
        version where it has one) is served by."""
        role = model or PROMOTED
        if role == PROMOTED and tenant is not None and OWN + tenant in self.roles:
            role = OWN + tenant
        version = self.roles.get(role) or self.roles.get(PROMOTED)
        return self.loaded.get(version) if version else None

    async def refresh(self, registry: ModelRegistry, named: Iterable[str] = ()) -> None:
        """Follow the promoted version (promote, rollback, or none at all), the tenants' own,
        the candidate, and the versions running experiments name."""
        wanted = {
            PROMOTED: await registry.promoted_version(),
            CANDIDATE: await registry.candidate_version(),
            **{OWN + t: v for t, v in (await registry.tenant_versions()).items()},
            **{v: v for v in named if v not in (PROMOTED, CANDIDATE)},
        }
        roles: dict[str, str] = {}
        for role, version in wanted.items():
            if version is not None and await self._load(registry, version):
                roles[role] = version
            elif version is not None and role in self.roles:
                roles[role] = self.roles[role]  # refused: the last good one stays
        if wanted[PROMOTED] is None and self.version is not None:
            log.info("model unloaded: no promoted snapshot, ranking by hand weights")
        self._publish(roles)

    async def _load(self, registry: ModelRegistry, version: str) -> bool:
        """Whether ``version`` is loaded (now or before)."""
        if version in self.loaded:
            return True
        if version in self.failed:
            return False
        try:
            snapshot = await registry.load(version)
        except SnapshotError as exc:
            self.failed.add(version)
            if self.exported:
                metrics.MODEL_LOADS.labels("failed").inc()
            log.warning("model load failed version=%s error=%s", version, exc)
            return False
        ids, vectors = retrievable(
            snapshot.ids, snapshot.vectors, snapshot.support, self.min_support
        )
        index = await asyncio.to_thread(build_for, ids, vectors)
        adoption = snapshot.ranker_adoption
        self.loaded[version] = Served(
            version,
            index,
            snapshot.rankers,
            None if adoption is None else frozenset(t for t in adoption if snapshot.adopted(t)),
            snapshot.shared_ranker,
        )
        if self.exported:
            metrics.MODEL_LOADS.labels("loaded").inc()
        log.info(
            "model loaded version=%s items=%d retrievable=%d ranker_features=%d",
            version,
            len(snapshot.ids),
            len(ids),
            self.loaded[version].ranker_features,
        )
        return True

    def _publish(self, roles: dict[str, str]) -> None:
        """Swap in the new roles (one assignment) and drop what no role names."""
        before = self.version
        self.roles = roles
        self.loaded = {v: s for v, s in self.loaded.items() if v in roles.values()}
        if not self.exported:
            return
        metrics.RANKER_FEATURES.set(self.ranker_features)
        if before != self.version:
            if before is not None:
                metrics.MODEL_VERSION.remove(before)
            if self.version is not None:
                metrics.MODEL_VERSION.labels(self.version).set(1)

    def retrieve(
        self, users: Sequence[tuple[str, np.ndarray | None, str | None]], k: int
    ) -> list[Hits]:
        """Per (tenant, user vector, model): the tenant's items nearest the vector in that
        model (None: the one promoted for the tenant); nothing without a model or a vector.
        One batched query per model for all its users with a vector.

        Model ids are ``tenant:item`` (one model for every tenant): twice ``k`` are fetched so
        other tenants' items rarely crowd a list out.
        """
        out: list[Hits] = [[] for _ in users]
        by_model: dict[str, list[int]] = {}
        for n, (tenant, vector, model) in enumerate(users):
            served = self.served(model, tenant)
            if vector is not None and served is not None:
                by_model.setdefault(served.version, []).append(n)
        for version, asked in by_model.items():
            matrix = np.asarray([users[n][1] for n in asked], dtype=np.float32)
            found = self.loaded[version].index.query_many(matrix, 2 * k)
            for n, hits in zip(asked, found, strict=True):
                prefix = f"{users[n][0]}:"
                out[n] = [(i[len(prefix) :], s) for i, s in hits if i.startswith(prefix)][:k]
        return out
