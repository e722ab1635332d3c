"""Redis state compared across runs: order-free sums and exact structures, and draining."""

from __future__ import annotations

import asyncio
import hashlib
import math

import pytest
import redis

from streamapp import databases
from streamapp.brokers import kafka_options
from streamapp.databases import with_database
from streamapp.ops.lag import LagReader
from streamapp.state import keys
from streamapp.state.decay import UNITS, value_at
from streamapp.state.lists import StoredList
from tests.support import ON_CLUSTER, Env, Worker, redis_client

# Bounds high enough that no structure is trimmed: trimming keeps the top-N of whatever has
# arrived by the end of a batch, which depends on batch boundaries, not on loss or double count.
UNBOUNDED = {
    name: "1000000"
    for name in (
        "STREAMAPP_COVISIT_MAX",
        "STREAMAPP_POPULARITY_MAX",
        "STREAMAPP_USER_ITEMS_MAX",
        "STREAMAPP_CATEGORY_POPULARITY_MAX",
        "STREAMAPP_USER_CATEGORIES_MAX",
        "STREAMAPP_SEEN_EVENT_IDS",
        "STREAMAPP_PURCHASED_MAX",
    )
}
# Sums of per-event increments: equal whatever order events arrive in, so a lost or
# double-counted event shows. Co-visitation and the session are left out on purpose: they pair
# an event with the items seen before it, and Kafka orders a user's clicks and carts (two
# topics) differently from one run to the next.
DECAYED = ("u:*:items", "u:*:cats", "pop", "catpop:*")
EXACT = ("u:*:record", "u:*:bought", "item:*", "oos")
DIGEST = 6  # bytes of an event id's SHA-1 in the dedupe window (lua/ingest.lua)


Snapshot = tuple[dict[str, dict[str, float]], dict[str, object]]


def rows(first_offset: int, events: list[tuple[str, str, str, int]]) -> list[tuple[object, ...]]:
    """Ingest rows (see ``Store.ingest``) for (user, item, category, purchased) events; later
    events weigh a little more, so which members a bound keeps does not hang on ties."""
    return [
        (
            "default",
            "clicks:0",
            first_offset + n,
            f"e{first_offset + n}",
            user,
            item,
            cat,
            1.0 + n / 100,
            1_000 + first_offset + n,
            bought,
            False,
        )
        for n, (user, item, cat, bought) in enumerate(events)
    ]


def snapshot(client: redis.Redis, app_id: str, at: float, tenant: str = "default") -> Snapshot:
    """(decayed sums as values at instant ``at``, so landmark-free; exact structures) of
    deployment ``app_id``, keyed without its hash tag so that two deployments compare."""
    tag = keys.prefix(app_id)
    landmark = float(client.get(f"{tag}{tenant}:landmark"))
    rate = math.log(2) / (86_400.0 * 1000)
    decayed = {
        key.decode().removeprefix(tag): {
            m.decode(): value_at(s, at, landmark, rate)
            for m, s in client.zrange(key, 0, -1, withscores=True)
        }
        for pattern in DECAYED
        for key in client.scan_iter(f"{tag}{tenant}:{pattern}", count=5000)
    }
    exact: dict[str, object] = {}
    for pattern in EXACT:
        for key in client.scan_iter(f"{tag}{tenant}:{pattern}", count=5000):
            kind = client.type(key)
            name = key.decode().removeprefix(tag)
            if kind == b"zset":
                exact[name] = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"hash":
                exact[name] = client.hgetall(key)
            elif kind == b"string":
                exact[name] = seen_window(client, key)
            else:
                exact[name] = client.smembers(key)
    return decayed, exact


def event_digest(event_id: str) -> bytes:
    """How the dedupe window (in ``t:u:U:record``) holds an event id: 6 bytes of its SHA-1."""
    return hashlib.sha1(event_id.encode()).digest()[:DIGEST]


def record_parts(raw: bytes | None) -> tuple[bytes, bytes | None]:
    """A user's record (``lua/record.lua``): its dedupe window and its stored list (None)."""
    if not raw or len(raw) < 2:
        return b"", None
    length = int.from_bytes(raw[:2], "big")
    return raw[2 : 2 + length], raw[2 + length :] or None


def seen_window(client: redis.Redis, key: str | bytes) -> set[bytes]:
    """The digests in a user's dedupe window (``key`` is the user's record), as a set: the
    order they arrived in depends on how two topics interleave, which differs from run to
    run."""
    window, _ = record_parts(client.get(key))
    return {window[i : i + DIGEST] for i in range(0, len(window), DIGEST)}


def stored_list(client: redis.Redis, key: str) -> StoredList | None:
    """The stored list in a user's record (``key``), parsed; None when there is none."""
    _, raw = record_parts(client.get(key))
    return StoredList.parse(raw) if raw is not None else None


def applied(env: Env) -> int:
    """Interactions the state has applied, by its watermarks (offsets are 0-based)."""
    inputs = (env.topic("clicks"), env.topic("carts"))
    watermarks = env.redis.hgetall(env.key("wm"))
    return sum(int(v) + 1 for tp, v in watermarks.items() if tp.decode().startswith(inputs))


async def drained(env: Env, group: str) -> bool:
    """Every input partition of ``group`` has committed up to its end offset."""
    inputs = {env.topic(t) for t in ("clicks", "carts", "inventory")}
    async with LagReader(kafka_options(env.settings)) as reader:
        rows = await reader.group_lag(group, inputs)
    return len(rows) == 6 + 6 + 3 and all(r.lag == 0 for r in rows)


async def wait_drained(env: Env, group: str, timeout: float = 180.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await drained(env, group):
        assert asyncio.get_running_loop().time() < deadline, f"{group} did not catch up"
        await asyncio.sleep(0.5)


async def from_scratch(env: Env, at: float) -> Snapshot:
    """The state one never-interrupted worker makes of the same input, under an app id of its
    own (in Redis DB 10 of the single server; beside the deployment's keys on a cluster)."""
    for w in env.workers:
        w.stop()
    clean_url = with_database(env.settings.redis_url, databases.TESTS_REFERENCE, ON_CLUSTER)
    clean_db = redis_client(clean_url)
    group = f"{env.settings.app_id}-clean"
    clean = Worker(env, {**UNBOUNDED, "STREAMAPP_APP_ID": group, "STREAMAPP_REDIS_URL": clean_url})
    env.workers.append(clean)
    try:
        clean.start()
        await wait_drained(env, group)
        return snapshot(clean_db, group, at)
    finally:
        # Stopped before its keys go: drained counts the inputs, not the refresh topic, so a
        # batch may still be committing, and one that found the out-of-stock set deleted would
        # publish lists that hold out-of-stock items to the topic the tests read.
        clean.stop()
        for key in clean_db.scan_iter(match=keys.prefix(group) + "*", count=1000):
            clean_db.delete(key)
        clean_db.close()


def assert_same_state(state: Snapshot, reference: Snapshot) -> None:
    """Nothing lost, nothing counted twice: exact structures equal, decayed sums equal.

    Each increment is rounded to a whole unit against the landmark of its run (set by the
    first event that run applied), so two runs' sums may differ by half a unit an event; a
    lost or doubled event moves a sum by a click's worth, ``UNITS`` (decayed from its time
    to ``at``, hours here against a day's half-life)."""
    (decayed, exact), (decayed_ref, exact_ref) = state, reference
    assert exact == exact_ref
    assert decayed.keys() == decayed_ref.keys()
    for key, expected in decayed_ref.items():
        assert decayed[key].keys() == expected.keys(), key
        for member, value in expected.items():
            assert decayed[key][member] == pytest.approx(value, abs=UNITS / 10), (key, member)
