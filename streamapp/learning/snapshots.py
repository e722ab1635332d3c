"""Versioned model snapshots: item vectors plus what is needed to trust and trace them.

A snapshot is Redis hash fields: ``meta`` (JSON: version, creation time, events seen,
input offsets, loss, dimensions, quality at publish time, each tenant's learned ranker weights),
``ids`` (JSON list), ``vectors`` (raw little-endian float32, row-major) and ``support`` (raw
little-endian uint32: positives each item was learned from; absent in older snapshots). Raw
numbers keep it compact (4 bytes per factor) and fast to load (one ``frombuffer``, no parsing);
:func:`decode` checks that the parts agree before serving trusts them.

>>> snap = Snapshot("mf-1", 0, 3, {}, "pairwise", ["a", "b"], np.eye(2, dtype=np.float32), {})
>>> decode(encode(snap)).ids
['a', 'b']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson


class SnapshotError(ValueError):
    """A snapshot that must not be served (missing part, wrong sizes, non-finite values)."""


@dataclass
class Snapshot:
    version: str
    created_at: int
    events_seen: int
    offsets: dict[str, int]
    loss: str
    ids: list[str]
    vectors: np.ndarray
    quality: dict[str, float] = field(default_factory=dict)
    # Each tenant's learned ranker weights: learned from that tenant's lists alone.
    rankers: dict[str, dict[str, float]] = field(default_factory=dict)
    support: np.ndarray | None = None
    # Per tenant, whether its ranker serves it and why (recommend.adoption); a tenant absent
    # gets the hand weights. None: a snapshot from before adoption, whose ranker serves all.
    ranker_adoption: dict[str, dict[str, Any]] | None = None
    # A snapshot from before per-tenant rankers: its one ranker, for every tenant.
    shared_ranker: dict[str, float] = field(default_factory=dict)

    def adopted(self, tenant: str) -> bool:
        """Whether the ranker re-orders this tenant's lists."""
        if self.ranker_adoption is None:
            return True
        return bool(self.ranker_adoption.get(tenant, {}).get("adopted", False))

    def ranker_of(self, tenant: str) -> dict[str, float]:
        """The tenant's ranker weights (empty: none learned yet; the hand order serves)."""
        return self.rankers.get(tenant) or self.shared_ranker

    def meta(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "events_seen": self.events_seen,
            "offsets": self.offsets,
            "loss": self.loss,
            "items": len(self.ids),
            "factors": int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0,
            "quality": self.quality,
            "rankers": self.rankers,
            **({"ranker": self.shared_ranker} if self.shared_ranker else {}),
            **({} if self.ranker_adoption is None else {"ranker_adoption": self.ranker_adoption}),
        }


def encode(snapshot: Snapshot) -> dict[str, bytes]:
    """The hash fields of a snapshot."""
    fields = {
        "meta": orjson.dumps(snapshot.meta()),
        "ids": orjson.dumps(snapshot.ids),
        "vectors": np.ascontiguousarray(snapshot.vectors, dtype="<f4").tobytes(),
    }
    if snapshot.support is not None:
        fields["support"] = np.ascontiguousarray(snapshot.support, dtype="<u4").tobytes()
    return fields


def decode(fields: Mapping[bytes, bytes] | Mapping[str, bytes]) -> Snapshot:
    """A snapshot from its hash fields, or :class:`SnapshotError` saying what is wrong."""
    parts = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
    missing = {"meta", "ids", "vectors"} - parts.keys()
    if missing:
        raise SnapshotError(f"snapshot lacks {sorted(missing)}")
    try:
        meta = orjson.loads(parts["meta"])
        ids = orjson.loads(parts["ids"])
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"unreadable snapshot metadata: {exc}") from None
    factors = int(meta.get("factors", 0))
    expected = len(ids) * factors * 4
    if factors <= 0 or len(parts["vectors"]) != expected or meta.get("items") != len(ids):
        raise SnapshotError(
            f"snapshot {meta.get('version')!r}: {len(ids)} ids × {factors} factors needs "
            f"{expected} bytes of vectors, found {len(parts['vectors'])}"
        )
    vectors = np.frombuffer(parts["vectors"], dtype="<f4").reshape(len(ids), factors)
    if not np.isfinite(vectors).all():
        raise SnapshotError(f"snapshot {meta['version']!r} has non-finite vectors")
    support = None
    if "support" in parts:
        if len(parts["support"]) != len(ids) * 4:
            raise SnapshotError(
                f"snapshot {meta['version']!r}: {len(ids)} ids need {len(ids) * 4} bytes of "
                f"support, found {len(parts['support'])}"
            )
        support = np.frombuffer(parts["support"], dtype="<u4")
    rankers = {
        str(tenant): _weights(meta, weights)
        for tenant, weights in _mapping(meta, meta.get("rankers", {})).items()
    }
    shared = _weights(meta, meta.get("ranker", {}))
    return Snapshot(
        version=meta["version"],
        created_at=int(meta["created_at"]),
        events_seen=int(meta["events_seen"]),
        offsets={k: int(v) for k, v in meta.get("offsets", {}).items()},
        loss=str(meta.get("loss", "")),
        ids=[str(i) for i in ids],
        vectors=vectors,
        quality={
            k: float(v) for k, v in meta.get("quality", {}).items() if math.isfinite(float(v))
        },
        rankers=rankers,
        support=support,
        ranker_adoption=_adoption(meta),
        shared_ranker=shared,
    )


def _mapping(meta: Mapping[str, Any], found: Any) -> Mapping[str, Any]:
    if not isinstance(found, Mapping):
        raise SnapshotError(f"snapshot {meta['version']!r}: unreadable ranker weights")
    return found


def _weights(meta: Mapping[str, Any], found: Any) -> dict[str, float]:
    """One ranker's weights, checked: names to finite numbers."""
    try:
        weights = {str(k): float(v) for k, v in _mapping(meta, found).items()}
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot {meta['version']!r}: unreadable ranker: {exc}") from None
    if not all(math.isfinite(v) for v in weights.values()):
        raise SnapshotError(f"snapshot {meta['version']!r} has non-finite ranker weights")
    return weights


def _adoption(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    found = meta.get("ranker_adoption")
    if found is None:
        return None
    if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
        raise SnapshotError(f"snapshot {meta['version']!r}: unreadable ranker adoption")
    return {str(tenant): verdict for tenant, verdict in found.items()}
