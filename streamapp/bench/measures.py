"""Micro-benchmarks of single parts, and the Redis memory estimate the harness reports: what
``streamapp bench-retrieval`` and ``streamapp bench-snapshot`` print (docs/performance.md)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from streamapp.databases import AsyncRedis
from streamapp.learning.retrieval import AnnoyIndex, ExactIndex
from streamapp.learning.snapshots import Snapshot, decode, encode

__all__ = ["memory_usage", "retrieval", "snapshot"]


def retrieval(
    sizes: Sequence[int],
    dim: int = 32,
    queries: int = 200,
    k: int = 10,
    search_k: int = 5000,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Recall@k of Annoy against exact search and per-query latency of both, per catalogue size.

    Synthetic Gaussian vectors (the scaling table is about cost, not about a real model).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        ids = [str(i) for i in range(n)]
        data = rng.normal(size=(n, dim)).astype(np.float32)
        probe = rng.normal(size=(queries, dim)).astype(np.float32)
        exact = ExactIndex(ids, data)
        started = time.perf_counter()
        annoy = AnnoyIndex(ids, data, n_trees=10, search_k=search_k)
        build_s = time.perf_counter() - started
        truth, exact_ms = [], []
        for q in probe:
            t = time.perf_counter()
            truth.append({i for i, _ in exact.query(q, k)})
            exact_ms.append((time.perf_counter() - t) * 1000)
        hits, annoy_ms = 0, []
        for q, expected in zip(probe, truth, strict=True):
            t = time.perf_counter()
            found = annoy.query(q, k)
            annoy_ms.append((time.perf_counter() - t) * 1000)
            hits += len({i for i, _ in found} & expected)
        rows.append(
            {
                "items": n,
                "exact_ms_p50": round(float(np.median(exact_ms)), 3),
                "annoy_ms_p50": round(float(np.median(annoy_ms)), 3),
                "annoy_recall_at_10": round(hits / (queries * k), 3),
                "annoy_build_s": round(build_s, 2),
            }
        )
    return rows


def snapshot(items: int, factors: int = 32) -> dict[str, float]:
    """Encoded size and decode time of a snapshot of ``items`` random vectors."""
    rng = np.random.default_rng(0)
    snap = Snapshot(
        "bench",
        0,
        0,
        {},
        "pairwise",
        [f"item-{i}" for i in range(items)],
        rng.normal(size=(items, factors)).astype(np.float32),
    )
    fields = encode(snap)
    started = time.perf_counter()
    decode(fields)
    return {
        "items": items,
        "factors": factors,
        "bytes": sum(len(v) for v in fields.values()),
        "decode_ms": round((time.perf_counter() - started) * 1000, 2),
    }


async def memory_usage(redis: AsyncRedis, pattern: str, sample: int = 10_000) -> tuple[int, int]:
    """(keys matching ``pattern``, their bytes by MEMORY USAGE counting every element).

    Every key is read up to ``sample`` keys (a bench's users: a sample of 200 keys of seven
    kinds put a run with the learner's vectors below one without), an even sample of that many
    beyond (a catalogue's items), scaled to all of them.
    """
    found = [k async for k in redis.scan_iter(match=pattern, count=1000)]
    if not found:
        return 0, 0
    step = max(1, len(found) // sample)
    picked = found[::step]
    async with redis.pipeline(transaction=False) as pipe:
        for k in picked:
            pipe.memory_usage(k, samples=0)
        sizes = await pipe.execute()
    mean = sum(s or 0 for s in sizes) / len(picked)
    return len(found), int(mean * len(found))
