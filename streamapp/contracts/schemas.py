"""The message contracts: JSON Schemas (draft 2020-12) in ``schemas/``, compiled once.

Validation uses jsonschema-rs (a Rust validator, about 0.5 µs for one of our events) because
the hot path cannot afford a pure-Python validator at 20,000 events/s.

>>> contract("cart").is_valid({"event_id": "e", "user_id": "u", "item_id": "i", "ts": 1,
...                            "action": "add"})
True
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from streamapp.settings import get_settings

MESSAGES = (
    "click",
    "cart",
    "inventory",
    "recommendation",
    "refresh",
    "dead-letter",
    "audit",
    "experiment",
    "rollout",
    "rule",
    "rule-audit",
)


def schema_path(message: str, version: int = 1, schemas_dir: Path | None = None) -> Path:
    """File of one message's schema; versions live side by side (``click.v1.json``)."""
    return (schemas_dir or get_settings().schemas_dir) / f"{message}.v{version}.json"


@cache
def load(message: str, version: int = 1) -> dict[str, Any]:
    """The schema document of one message."""
    data: dict[str, Any] = orjson.loads(schema_path(message, version).read_bytes())
    return data


@cache
def contract(message: str, version: int = 1) -> Any:
    """The compiled validator of one message (compiled once per process)."""
    return jsonschema_rs.validator_for(load(message, version))
