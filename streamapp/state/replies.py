"""Reading Redis replies: bytes, Lua tables and WITHSCORES lists as plain Python values.

>>> pairs(["a", "2", "b", "0.5"])
[('a', 2.0), ('b', 0.5)]
>>> seq({})
[]
"""

from __future__ import annotations

from typing import Any

__all__ = ["Scored", "pairs", "seq", "text"]

# Items with their scores, best first: [("i1", 3.2), ...].
Scored = list[tuple[str, float]]


def seq(value: Any) -> list[Any]:
    """Redis' cjson encodes an empty Lua table as ``{}``: read it back as an empty list."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def pairs(flat: Any) -> Scored:
    """``[item, score, item, score, ...]`` (ZREVRANGE WITHSCORES, scores as Redis' strings) as
    (item, score) pairs."""
    flat = seq(flat)
    return [(item, float(score)) for item, score in zip(flat[::2], flat[1::2], strict=True)]
