from __future__ import annotations

import numpy as np
import orjson
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
        {"default": {"bias": -1.5, "recent": 0.75}, "other": {"bias": 0.5}},
        np.arange(1, items + 1, dtype=np.uint32),
    )


def test_round_trip_keeps_everything():
    original = snapshot()
    back = decode(encode(original))
    assert back.meta() == original.meta()
    assert back.ids == original.ids
    assert np.array_equal(back.vectors, original.vectors)
    assert back.rankers == original.rankers
    assert back.ranker_of("other") == {"bias": 0.5}
    assert back.ranker_of("third") == {}, "a tenant without a ranker gets the hand order"
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


def test_a_snapshot_from_before_per_tenant_rankers_serves_its_one_ranker_everywhere():
    fields = encode(snapshot())
    meta = orjson.loads(fields["meta"])
    del meta["rankers"]
    meta["ranker"] = {"bias": -1.0}
    fields["meta"] = orjson.dumps(meta)
    legacy = decode(fields)
    assert legacy.rankers == {}
    assert legacy.ranker_of("default") == legacy.ranker_of("any") == {"bias": -1.0}
    assert orjson.loads(encode(legacy)["meta"])["ranker"] == {"bias": -1.0}


@pytest.mark.parametrize(
    "rankers", [{"default": {"bias": float("nan")}}, {"default": ["bias"]}, ["default"]]
)
def test_unreadable_ranker_weights_are_refused(rankers):
    fields = encode(snapshot())
    meta = orjson.loads(fields["meta"])
    meta["rankers"] = rankers
    fields["meta"] = orjson.dumps(meta)
    with pytest.raises(SnapshotError, match="ranker"):
        decode(fields)
