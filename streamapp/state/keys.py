"""The key layout of the state in Redis: one table, and the functions that build the keys.

Python builds keys only through these functions; the Lua scripts build the same patterns from
the prefix, tenant and ids they are handed, and a unit test checks that every segment a script
appends is one this table declares. Keys are ``{<app>}:<tenant>:<kind>:<id>`` for the shop's
state and ``{<app>}:<kind>`` for the process group's own.

Every key of a deployment starts with its app id as a Redis Cluster hash tag, so all of them
hash to one slot: a script may touch any of them, on one Redis or on a cluster, and a watermark
lands in the same script as the changes it covers (docs/scaling.md). Deployments sharing a
Redis (or a cluster) are apart by their app ids, without database numbers (a cluster has one).

>>> user("streamapp", "default", "u1", "factors")
'{streamapp}:default:u:u1:factors'
>>> tenant("streamapp", "default", "shown", "i9")
'{streamapp}:default:shown:i9'
>>> app("streamapp", "model", "mf-1")
'{streamapp}:model:mf-1'
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LAYOUT", "Key", "app", "prefix", "tenant", "user"]


class Key(NamedTuple):
    """One row of the layout: the pattern (``t`` tenant, ``U`` user, ``I`` item, ``C``
    category, ``V`` version), the Redis type and what it holds."""

    pattern: str
    type: str
    what: str


LAYOUT: tuple[Key, ...] = (
    Key("t:landmark", "string", "forward-decay landmark (epoch ms), set by the first event"),
    Key("t:units", "string", "what the decayed sums count (decay.UNITS), set with the landmark"),
    Key(
        "t:u:U:record",
        "string",
        "the user's last event ids (dedupe; 6-byte digests, bounded), then the current list and "
        "the ranking behind it (state.lists): one key for both (lua/record.lua)",
    ),
    Key("t:u:U:items", "zset", "decayed user → item affinity (the history source), bounded"),
    Key("t:u:U:cats", "zset", "decayed user → category affinity, bounded"),
    Key("t:u:U:recent", "zset", "recently viewed items by time, bounded"),
    Key("t:u:U:bought", "zset", "purchased items (excluded from lists), bounded"),
    Key("t:u:U:factors", "string", "the user's factor vector (float32 bytes), by the learner"),
    Key("t:pop", "zset", "decayed global popularity, bounded"),
    Key("t:catpop:C", "zset", "decayed popularity within category C, bounded"),
    Key("t:new:C", "zset", "category C's in-stock items without interactions, by arrival"),
    Key("t:cv:I", "zset", "decayed co-visitation I → other items, bounded"),
    Key("t:nx:I", "zset", "decayed transitions: items viewed right after I (the sequence source)"),
    Key(
        "t:cvitems",
        "zset",
        "items with a t:cv or t:nx row, by last event (the idlest rows dropped)",
    ),
    Key("t:categories", "zset", "categories with t:catpop/t:new rows, likewise"),
    Key("t:item:I", "hash", "product table: stock, price, margin, category, brand, ts"),
    Key("t:price", "hash", "item → price (a copy the gather reads in bulk)"),
    Key("t:margin", "hash", "item → margin (likewise)"),
    Key("t:category", "hash", "item → category (a copy the gather reads in bulk for rules)"),
    Key("t:brand", "hash", "item → brand (likewise)"),
    Key("t:oos", "set", "items not to show: out of stock, or covered by a block rule"),
    Key(
        "t:ruled",
        "hash",
        "block rules in force: target (item_id:I, category:C, brand:B) → JSON [rule id, ...]",
    ),
    Key("t:allowed", "hash", "approved allow rules in force: target → JSON [rule id, ...]"),
    Key("t:sensitive", "hash", 'the tenant\'s sensitive categories: category:C → JSON ["config"]'),
    Key("t:rules", "hash", "rule id → the version (ts) whose start or end the lists have taken"),
    Key("t:rulelock:R", "string", "the worker carrying out rule R's start or end (expires)"),
    Key("t:instock", "zset", "in-stock items by last update (last-resort candidates)"),
    Key("t:shown:I", "zset", "reverse index: users whose current list has I, by time"),
    Key("app:wm", "hash", "per topic:partition, the last applied input offset"),
    Key("app:logs", "hash", "per input topic, the id of the topic the watermarks are from"),
    Key("app:epoch", "string", "the state's epoch: set once the state is whole, gone with it"),
    Key("app:rebuilds", "set", "epochs of rebuilds under way (gone if Redis loses the state)"),
    Key("app:models", "zset", "model snapshot versions by creation time"),
    Key("app:lineage", "zset", "versions whose vectors were dropped (meta kept), by creation"),
    Key("app:model:V", "hash", "snapshot V: meta (JSON), ids (JSON), vectors (float32)"),
    Key("app:promoted", "list", "promoted versions, newest first (rollback pops the head)"),
    Key(
        "app:promoted:t",
        "list",
        "a tenant's own promoted versions, newest first: they serve its lists over app:promoted",
    ),
    Key("app:candidate", "string", "the version a canary rollout serves to its share of users"),
    Key("app:rollout:judged", "string", "the newest version the rollout has decided on"),
    Key("app:rollout:steps", "list", "the latest rollout steps (JSON), newest first, bounded"),
)


def prefix(app_id: str) -> str:
    """What every key of deployment ``app_id`` starts with, its hash tag; the scripts are
    handed it and put it before the tenant."""
    return f"{{{app_id}}}:"


def tenant(app_id: str, tenant_id: str, kind: str, *ids: str) -> str:
    """A key of a tenant's shared state (``t:pop``, ``t:shown:I``)."""
    return prefix(app_id) + ":".join((tenant_id, kind, *ids))


def user(app_id: str, tenant_id: str, user_id: str, kind: str) -> str:
    """A key of one user's state (``t:u:U:kind``)."""
    return f"{prefix(app_id)}{tenant_id}:u:{user_id}:{kind}"


def app(app_id: str, kind: str, *ids: str) -> str:
    """A key of the process group's own bookkeeping (``app:wm``, ``app:model:V``)."""
    return prefix(app_id) + ":".join((kind, *ids))
