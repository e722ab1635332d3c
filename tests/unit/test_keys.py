"""The key table in :mod:`streamapp.state.keys` is the whole layout: every key segment a Lua
script appends is declared there, and no Python module outside it spells a key."""

from __future__ import annotations

import re
from pathlib import Path

import streamapp
from streamapp.state import keys
from streamapp.state.store import LUA_DIR

PACKAGE = Path(streamapp.__file__).parent
# A Lua string literal that starts with a separator: ':oos', ':u:', ':u:.+:items$'.
LUA_SEGMENT = re.compile(r"'(:[^']*)'")
# A Python f-string that builds a tenant's or the app's key.
PY_KEY = re.compile(r'f"\{[a-z_.]+\}:(?:u|wm|epoch|rebuilds|logs|model|models|promoted|pop|oos)\b')


def declared() -> set[str]:
    return {part for key in keys.LAYOUT for part in key.pattern.split(":")[1:]}


def test_every_segment_a_lua_script_appends_is_declared() -> None:
    used = set()
    for script in LUA_DIR.glob("*.lua"):
        for literal in LUA_SEGMENT.findall(script.read_text()):
            used |= {word for word in re.findall(r"[a-z]+", literal)}
    assert used, "no key segments found: the pattern no longer matches the scripts"
    assert used - declared() == set()


def test_no_python_module_spells_a_key_but_the_table() -> None:
    spelled = {
        str(path.relative_to(PACKAGE)): PY_KEY.findall(path.read_text())
        for path in PACKAGE.rglob("*.py")
        if path.name != "keys.py"
    }
    assert {path: found for path, found in spelled.items() if found} == {}


def test_table_rows_are_unique_and_typed() -> None:
    patterns = [key.pattern for key in keys.LAYOUT]
    assert len(patterns) == len(set(patterns))
    assert {key.type for key in keys.LAYOUT} <= {"string", "hash", "set", "zset", "list"}
