"""The item-to-item sources through the real scripts: sequence (what a shopper views right
after an item, directed unlike co-visitation; a late event says nothing about what came next)
and cosine (co-visitation normalised by popularity, read in the same call)."""

from __future__ import annotations

import pytest

from streamapp.recommend.pipeline import recommend_user
from streamapp.state.store import Store
from tests.state import rows

pytestmark = pytest.mark.integration


async def test_what_is_viewed_next_is_a_directed_source(deployment):
    client = deployment.redis
    views = [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "a"), ("u2", "c")]
    late = rows(50, [("u2", "z", "c0", 0)])
    late[0] = (*late[0][:8], 0, *late[0][9:])  # event time 0: older than u2's session
    async with Store(deployment.settings) as store:
        await store.ingest(rows(0, [(u, i, "c0", 0) for u, i in views]) + late, [])
        (fresh,) = (await store.ingest([], [("default", "u3")])).users
        await store.ingest(rows(100, [("u3", "a", "c0", 0)]), [])
        gathered = await store.ingest([], [("default", "u3")])

    def following(item: str) -> set[bytes]:
        return set(client.zrange(deployment.key(f"default:nx:{item}"), 0, -1))

    assert following("a") == {b"b", b"c"}
    assert following("b") == {b"c"}
    assert following("c") == set(), "nothing was viewed after c (z came late)"
    assert set(client.zrange(deployment.key("default:cv:c"), 0, -1)) >= {b"a", b"b"}
    assert fresh.sequence == []
    (u3,) = gathered.users
    assert [{item for item, _ in row} for row in u3.sequence] == [{"b", "c"}]
    ranked = recommend_user(u3, gathered.tenants["default"], {"sequence": 1.0}, 5)
    assert {r.item_id for r in ranked if r.source == "sequence"} == {"b", "c"}


async def test_cosine_prefers_what_goes_with_the_item_over_what_goes_with_everything(deployment):
    # "hit" is viewed by everyone, so it is co-visited with "a" most; "match" only ever with
    # "a", by fewer shoppers.
    views = [(f"h{n}", "hit") for n in range(12)]
    views += [(f"u{n}", item) for n in range(3) for item in ("a", "hit")]
    views += [(f"m{n}", item) for n in range(2) for item in ("a", "match")]
    async with Store(deployment.settings) as store:
        await store.ingest(rows(0, [(u, i, "c0", 0) for u, i in views]), [])
        await store.ingest(rows(100, [("me", "a", "c0", 0)]), [])
        gathered = await store.ingest([], [("default", "me")])
        unweighed = await store.ingest([], [("default", "me")], cosine=False)
    assert unweighed.tenants["default"].popularity == {}, "no weight set, nothing read for it"
    (me,) = gathered.users
    shop = gathered.tenants["default"]
    assert {"a", "hit", "match"} <= set(shop.popularity)
    covisit = dict(me.covisit[0])
    assert covisit["hit"] > covisit["match"]
    by_count = recommend_user(me, shop, {"covisit": 1.0}, 2)
    by_cosine = recommend_user(me, shop, {"cosine": 1.0}, 2)
    assert [r.item_id for r in by_count][:1] == ["hit"]
    assert [(r.item_id, r.source) for r in by_cosine][:1] == [("match", "cosine")]
