"""Memory is bounded by configuration: every bounded structure stays within its bound in the
real Redis, across batches that add members and batches that only raise existing scores
(``ingest.lua`` trims a summed key only when it gained a member). And the stock-out reverse
index follows each list's changes (``commit.lua``) and the list lifetime (``inventory.lua``)."""

from __future__ import annotations

import pytest

from streamapp.state.store import Store
from streamapp.state.types import ListToCommit, Outcome, RankedItem
from tests.state import rows, seen_window, stored_list
from tests.support import Env

pytestmark = [pytest.mark.integration, pytest.mark.promise]

BOUNDS = {
    "covisit_max": 3,
    "popularity_max": 5,
    "user_items_max": 4,
    "user_categories_max": 2,
    "category_popularity_max": 3,
    "session_items": 3,
    "seen_event_ids": 6,
    "purchased_max": 2,
}


def members(deployment: Env) -> dict[str, dict[bytes, float]]:
    """Every sorted set's members of tenant ``default``, keyed without the deployment's hash
    tag; a user's dedupe window (a string of 6-byte digests) as its digests, scored by
    position."""
    client = deployment.redis
    out = {}
    for key in client.scan_iter(match=deployment.key("default:*")):
        name = key.decode().removeprefix(deployment.key(""))
        if client.type(key) == b"string":
            window = seen_window(client, key)
            out[name] = {d: float(n) for n, d in enumerate(sorted(window))}
        else:
            out[name] = dict(client.zrange(key, 0, -1, withscores=True))
    return out


async def test_every_bounded_structure_stays_within_its_bound(deployment):
    settings = deployment.settings.model_copy(update=BOUNDS)
    new_members = [(f"u{n % 2}", f"i{n}", f"c{n % 4}", int(n % 3 == 0)) for n in range(24)]
    # Only repeats of items every structure already holds: scores rise, no member is added.
    repeats = [(f"u{n % 2}", f"i{22 + n % 2}", f"c{(22 + n % 2) % 4}", 0) for n in range(6)]
    async with Store(settings) as store:
        await store.ingest(rows(0, new_members), [])
        before = members(deployment)
        await store.ingest(rows(100, repeats), [])
        after = members(deployment)
        await store.ingest(rows(200, new_members[:8]), [])
        final = members(deployment)

    def bound(key: str) -> int:
        suffixes = {
            ":items": "user_items_max",
            ":cats": "user_categories_max",
            ":recent": "session_items",
            ":record": "seen_event_ids",
            ":bought": "purchased_max",
        }
        for suffix, name in suffixes.items():
            if key.startswith("default:u:") and key.endswith(suffix):
                return BOUNDS[name]
        if key == "default:pop":
            return BOUNDS["popularity_max"]
        if key == "default:cvitems":
            return settings.covisit_items_max
        if key == "default:categories":
            return settings.categories_max
        if key.startswith("default:catpop:"):
            return BOUNDS["category_popularity_max"]
        assert key.startswith(("default:cv:", "default:nx:")), key
        return BOUNDS["covisit_max"]

    for state in (before, after, final):
        assert state, "the batches wrote nothing"
        over = {key: len(m) for key, m in state.items() if len(m) > bound(key)}
        assert not over, f"structures over their bound: {over}"
    # The first batch went past the bounds (24 items for 5 places in popularity); the repeats
    # added no member anywhere, only raised scores; the last batch brought members back, so
    # trimming was needed again.
    assert len(before["default:pop"]) == BOUNDS["popularity_max"]
    summed = [k for k in before if not k.endswith((":record", ":recent", ":bought"))]
    assert {k: set(after[k]) for k in summed} == {k: set(before[k]) for k in summed}
    assert after["default:pop"][b"i23"] > before["default:pop"][b"i23"]
    assert b"i7" not in before["default:pop"] and b"i7" not in final["default:pop"]


async def test_a_batch_that_overflows_a_bound_leaves_its_structures_compact(deployment):
    """Redis turns a sorted set of over zset-max-listpack-entries members into a skiplist and
    keeps it one after a trim: a catch-up batch of 200 new items for one user (and so 199
    co-visited items for the last one) must leave both at their bound in the compact form."""
    settings = deployment.settings.model_copy(update={"covisit_window": 200})
    client = deployment.redis
    async with Store(settings) as store:
        await store.ingest(rows(0, [("u", f"i{n}", "c0", 0) for n in range(200)]), [])
    history, covisited = deployment.key("default:u:u:items"), deployment.key("default:cv:i199")
    assert client.zcard(history) == settings.user_items_max
    assert client.zcard(covisited) == settings.covisit_max
    assert client.object("encoding", history) == b"listpack"
    assert client.object("encoding", covisited) == b"listpack"
    # What the trim kept is the top of the history: the latest (heaviest) items.
    kept = range(200 - settings.user_items_max, 200)
    assert set(client.zrange(history, 0, -1)) == {f"i{n}".encode() for n in kept}


def listed(user: str, *items: str) -> ListToCommit:
    """A list of ``items`` for ``user`` to commit (what the worker ranks, reduced to ids)."""
    ranked = [RankedItem.of(item, 0.5, "popular") for item in items]
    return ListToCommit("default", user, '{"items":[', ranked, "v1", whole=True)


async def test_reverse_index_follows_list_changes_and_lifetime(deployment):
    settings = deployment.settings
    client = deployment.redis
    now = 10_000_000_000_000
    ttl_ms = settings.user_ttl_s * 1000

    async with Store(settings) as store:
        await store.commit_lists([listed("u1", "a", "b"), listed("u2", "b", "c")], now)
        assert client.zrange(deployment.key("default:shown:b"), 0, -1) == [b"u1", b"u2"]
        await store.commit_lists([listed("u1", "b", "d")], now + 1)
        stored = stored_list(client, deployment.key("default:u:u1:record"))
        assert stored is not None and [item for item, *_ in stored.items] == ["b", "d"]
        assert client.zrange(deployment.key("default:shown:a"), 0, -1) == []
        assert client.zscore(deployment.key("default:shown:b"), "u1") == now + 1

        stock_out = [("default", "b", 5, 0, {}, "inventory:0", 0)]
        (outcome,) = await store.apply_inventory(stock_out, now + 2)
        assert sorted(outcome.affected_users) == ["u1", "u2"]
        # Until their refreshes land, the HTTP API's read leaves the item out.
        view = (await store.serving_view("default", "u1", top_up=0)).current
        assert view is not None and [entry["item_id"] for entry in view["items"]] == ["d"]
        # When u2's list reaches the end of its lifetime, only u1 (committed later) is named.
        restock = [("default", "b", 6, 3, {}, "inventory:0", 1)]
        await store.apply_inventory(restock, now + 3)
        (later,) = await store.apply_inventory(
            [("default", "b", 7, 0, {}, "inventory:0", 2)], now + 1 + ttl_ms
        )
        assert later.affected_users == ["u1"]


async def test_one_commit_of_many_lists_leaves_what_committing_them_in_turn_leaves(deployment):
    """A call commits a batch's lists in order: a user twice in one call, items shared by
    users, and a ranking of more than a thousand items with some out of stock end as lists
    committed one call each end (the reverse index, the stored ranking, its published top)."""
    client = deployment.redis
    now = 10_000_000_000_000
    ranking = [f"x{n}" for n in range(1_500)]
    client.sadd(deployment.key("default:oos"), "x5", "x1200")
    async with Store(deployment.settings) as store:
        await store.commit_lists([listed("u1", "a", "b"), listed("u3", "e")], now)
        batch = [listed("u1", "a", "c"), listed("u2", "b", "c"), listed("u1", "c", "d")]
        await store.commit_lists([*batch, listed("u3", *ranking)], now + 1)
    shown = {
        item: client.zrange(deployment.key(f"default:shown:{item}"), 0, -1) for item in "abcde"
    }
    assert shown == {"a": [], "b": [b"u2"], "c": [b"u1", b"u2"], "d": [b"u1"], "e": []}
    assert client.zscore(deployment.key("default:shown:c"), "u1") == now + 1
    assert 0 < client.ttl(deployment.key("default:shown:c")) <= deployment.settings.user_ttl_s
    stored = stored_list(client, deployment.key("default:u:u3:record"))
    assert stored is not None
    in_stock = [item for item, *_ in stored.items]
    assert in_stock == [item for item in ranking if item not in ("x5", "x1200")]
    top = in_stock[: deployment.settings.top_k]
    assert all(
        client.zrange(deployment.key(f"default:shown:{item}"), 0, -1) == [b"u3"] for item in top
    )
    assert not client.exists(deployment.key("default:shown:x5"))


async def test_repeated_stock_out_names_nobody_but_its_own_replay_names_them_again(deployment):
    now = 10_000_000_000_000

    async with Store(deployment.settings) as store:
        await store.commit_lists([listed("u1", "a", "b"), listed("u2", "b")], now)
        stock_out = [("default", "b", 5, 0, {}, "inventory:0", 0)]
        (first,) = await store.apply_inventory(stock_out, now + 1)
        assert (first.transition, sorted(first.affected_users)) == ("out", ["u1", "u2"])
        # The same event again (a retried batch, a re-read after a crash): its refreshes may not
        # have reached the broker, so the users are named again; nothing else is applied.
        (replayed,) = await store.apply_inventory(stock_out, now + 2)
        assert (replayed.status, replayed.transition) == (Outcome.REPLAYED, "")
        assert sorted(replayed.affected_users) == ["u1", "u2"]
        # A newer stock=0 for an item already out of stock changes nothing and sends nothing.
        later = [("default", "b", 9, 0, {}, "inventory:0", 1)]
        (repeated,) = await store.apply_inventory(later, now + 3)
        assert (repeated.transition, repeated.affected_users) == ("", [])


async def test_a_stock_out_in_very_many_lists_is_paged_not_read_in_one_call(deployment):
    settings = deployment.settings.model_copy(update={"refresh_chunk": 100})
    now = 10_000_000_000_000
    users = [f"u{n}" for n in range(1_050)]
    lists = [
        ListToCommit(
            "default", user, '{"items":[', [RankedItem.of("b", 0.5, "popular")], "v1", True
        )
        for user in users
    ]
    async with Store(settings) as store:
        await store.commit_lists(lists, now)
        stock_out = [("default", "b", 5, 0, {}, "inventory:0", 0)]
        (outcome,) = await store.apply_inventory(stock_out, now + 1)
        assert (outcome.transition, outcome.affected_users, outcome.page) == ("out", [], True)
        pages = [page async for page in store.shown_to("default", "b", now + 1)]
    assert {user for page in pages for user in page} == set(users)
    assert len(pages) > 5


async def test_a_duplicate_is_caught_within_the_window_and_a_late_one_is_applied_again(deployment):
    """The dedupe window is the user's last ``seen_event_ids`` ids (bounded on purpose): a
    duplicate within it changes nothing, one older than it counts again. A replayed offset
    (at or below the watermark) never does, however old."""
    settings = deployment.settings.model_copy(update=BOUNDS)
    first = rows(0, [("u", "i0", "c0", 0)])
    async with Store(settings) as store:
        assert (await store.ingest(first, [])).status == [Outcome.APPLIED]
        again = [(*first[0][:2], 1, *first[0][3:])]  # the same event id, a new record
        assert (await store.ingest(again, [])).status == [Outcome.DUPLICATE]
        others = rows(2, [("u", f"i{n}", "c0", 0) for n in range(1, 7)])  # 6 newer ids
        await store.ingest(others, [])
        late = [(*first[0][:2], 8, *first[0][3:])]
        assert (await store.ingest(late, [])).status == [Outcome.APPLIED]
        assert (await store.ingest(first, [])).status == [Outcome.REPLAYED]
