"""The sequence source through the real scripts: what a shopper views right after an item,
directed (unlike co-visitation), gathered for every user whose session holds the item; a
late event (older than the session's newest) says nothing about what came next."""

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
