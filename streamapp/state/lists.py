"""A user's stored list (in ``t:u:U:record`` after the dedupe window, ``lua/record.lua``;
written by ``lua/commit.lua``): the current list and the ranking behind it in one value, so
each list is stored once.

The value is JSON ``[model version, shown, whole, [item, score, source, ...], message head,
{item: [rule id, ...]}]``:
the ranking's items that were in stock when it was committed, in order, each source as its
index in :data:`~streamapp.contracts.messages.SOURCES`; the first ``shown`` of them are the
published list. ``whole`` says the ranking held every candidate there was. The head is the
published message without its items (an object, not a string of one: nothing to escape); the
last element names the merchandising rules that moved each item (absent in lists stored before
rules existed).

>>> head = {"user_id": "u", "items": []}
>>> stored = StoredList.parse(orjson.dumps(["v1", 1, True, ["a", 0.5, 6, "b", 0.25, 2], head]))
>>> stored.message(gone=set())["items"]
[{'item_id': 'a', 'score': 0.5, 'source': 'popular'}]
>>> stored.message(gone={"a"})
{'user_id': 'u', 'items': [], 'source': 'popular'}
>>> [r.item_id for r in stored.ranked()], stored.whole
(['a', 'b'], True)
>>> tagged = orjson.dumps(["v1", 1, True, ["a", 0.5, 6], head, {"a": ["pin-1"]}])
>>> StoredList.parse(tagged).message(gone=set())["items"]
[{'item_id': 'a', 'score': 0.5, 'source': 'popular', 'rules': ['pin-1']}]

A list stored in the earlier layout (its head a string, before its items) reads as no list:
the user's next event or stock-out ranks anew.

>>> StoredList.parse(orjson.dumps(["v1", 1, True, '{"user_id":"u","items":[', []])) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streamapp.contracts.messages import SOURCES, item_entry
from streamapp.state.replies import seq
from streamapp.state.types import RankedItem


@dataclass(frozen=True)
class StoredList:
    version: str
    shown: int
    whole: bool
    head: dict[str, Any]
    items: list[tuple[str, float, str, tuple[str, ...]]]

    @classmethod
    def parse(cls, raw: bytes) -> StoredList | None:
        version, shown, whole, flat, head, *rest = orjson.loads(raw)
        if not isinstance(head, dict):
            return None
        flat = seq(flat)
        tags = rest[0] if rest and isinstance(rest[0], dict) else {}
        sources = [SOURCES[code] for code in flat[2::3]]
        items = [
            (item, score, source, tuple(tags.get(item, ())))
            for item, score, source in zip(flat[::3], flat[1::3], sources, strict=True)
        ]
        return cls(version, shown, whole, head, items)

    def ranked(self) -> list[RankedItem]:
        """The ranking, as a list to commit again (a stock-out answered from it)."""
        return [RankedItem.of(*item) for item in self.items]

    def message(self, gone: set[str]) -> dict[str, Any]:
        """The published list without the items in ``gone`` (out of stock since); its
        ``source`` stays the one it was published with."""
        published = self.items[: self.shown]
        source = published[0][2] if published else "empty"
        message = dict(self.head)
        message["items"] = [item_entry(*item) for item in published if item[0] not in gone]
        message["source"] = source
        return message
