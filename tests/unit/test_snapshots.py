from __future__ import annotations

import numpy as np
import pytest

from streamapp.learning.snapshots import Snapshot, SnapshotError, decode, encode


def snapshot(version: str = "v1", items: int = 3) -> Snapshot:
    vectors = np.arange(items * 4, dtype=np.float32).reshape(items, 4)
    return Snapshot(
        version,
        1_700_000_000_000,
        42,
        {"clicks:0": 7},
        "pairwise",
        [f"i{n}" for n in range(items)],
        vectors,
        {"hit_rate": 0.25},
        {"bias": -1.5, "recent": 0.75},
        np.arange(1, items + 1, dtype=np.uint32),
    )


def test_round_trip_keeps_everything():
    original = snapshot()
    back = decode(encode(original))
    assert back.meta() == original.meta()
    assert back.ids == original.ids
    assert np.array_equal(back.vectors, original.vectors)
    assert back.ranker == original.ranker
    assert back.support is not None and back.support.tolist() == [1, 2, 3]


def test_a_snapshot_without_support_still_loads():
    fields = encode(snapshot())
    del fields["support"]
    assert decode(fields).support is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.pop("vectors"), "lacks"),
        (lambda f: f.update(meta=b"{not json"), "unreadable"),
        (lambda f: f.update(vectors=f["vectors"][:-4]), "needs"),
        (lambda f: f.update(ids=b'["i0", "i1"]'), "needs"),
        (lambda f: f.update(vectors=np.full(12, np.nan, dtype="<f4").tobytes()), "non-finite"),
        (lambda f: f.update(meta=f["meta"].replace(b"0.75", b"NaN")), "unreadable"),
        (lambda f: f.update(meta=f["meta"].replace(b"0.75", b'"nan"')), "non-finite ranker"),
        (lambda f: f.update(meta=f["meta"].replace(b"0.75", b'"high"')), "unreadable ranker"),
        (lambda f: f.update(support=f["support"][:-4]), "bytes of support"),
    ],
)
def test_a_damaged_snapshot_is_refused_with_a_reason(damage, message):
    fields = encode(snapshot())
    damage(fields)
    with pytest.raises(SnapshotError, match=message):
        decode(fields)
