"""Readers of the real event logs (``STREAMAPP_DATASETS_DIR``), as time-ordered interactions.

Three formats: ``taobao`` (Alibaba UserBehavior: no header, seconds), ``rees46`` (eCommerce
behaviour data: header, UTC date strings, price and brand on every event) and ``csv`` (header
``user_id,item_id,event_type,ts`` with ts in epoch seconds or milliseconds). Replay and
evaluation read through here, so both see the same events in the same order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamapp.errors import MissingLogError, UsageError
from streamapp.settings import get_settings

# The named logs, relative to the datasets folder.
NAMED_LOGS = {
    "taobao": Path("taobao-userbehavior-815u") / "UserBehavior.csv",
    "rees46": Path("rees46-oct2019-slice") / "2019-Oct.csv",
}

# Source labels → our interaction kinds: click, fav, cart_add, cart_remove, purchase.
KINDS = {
    "pv": "click",
    "view": "click",
    "click": "click",
    "fav": "fav",
    "cart": "cart_add",
    "add": "cart_add",
    "remove": "cart_remove",
    "remove_from_cart": "cart_remove",
    "buy": "purchase",
    "purchase": "purchase",
}


@dataclass(frozen=True, slots=True)
class Interaction:
    """One logged interaction with whatever product metadata the log carries."""

    user_id: str
    item_id: str
    kind: str
    ts_ms: int
    category: str | None = None
    price: float | None = None
    brand: str | None = None


def _kind(label: str, path: Path, line: int) -> str:
    try:
        return KINDS[label.strip().lower()]
    except KeyError:
        raise ValueError(f"{path}:{line}: unknown event type {label!r}") from None


def _taobao(path: Path) -> Iterator[Interaction]:
    with path.open(newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            user, item, category, label, ts = row
            yield Interaction(user, item, _kind(label, path, line), int(ts) * 1000, category)


def _rees46(path: Path) -> Iterator[Interaction]:
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            when = datetime.strptime(row["event_time"], "%Y-%m-%d %H:%M:%S UTC")
            yield Interaction(
                row["user_id"],
                row["product_id"],
                _kind(row["event_type"], path, line),
                int(when.replace(tzinfo=UTC).timestamp() * 1000),
                row["category_code"] or row["category_id"],
                float(row["price"]) if row["price"] else None,
                row["brand"] or None,
            )


def _csv(path: Path) -> Iterator[Interaction]:
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            ts = int(float(row["ts"]))
            yield Interaction(
                row["user_id"],
                row["item_id"],
                _kind(row["event_type"], path, line),
                ts if ts > 10**11 else ts * 1000,
                row.get("category") or None,
            )


READERS = {"taobao": _taobao, "rees46": _rees46, "csv": _csv}


def locate(fmt: str, path: Path | None = None, datasets_dir: Path | None = None) -> Path:
    """The file a log is read from: ``path`` if given, else the named log in the datasets folder.

    Raises :class:`MissingLogError` saying where it looked and how to get the log, because a
    newcomer's first replay is the likeliest place to meet a missing file.

    >>> locate("rees46", datasets_dir=Path("/nowhere"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    streamapp.errors.MissingLogError: the rees46 event log is not at /nowhere/rees46-oct2019-...
    """
    if fmt not in READERS:
        raise UsageError(f"unknown log format {fmt!r}; use one of {', '.join(sorted(READERS))}")
    if path is not None:
        if not path.is_file():
            raise MissingLogError(f"no such event log: {path}")
        return path
    if fmt not in NAMED_LOGS:
        raise UsageError(f"format {fmt!r} has no named log: give the file with --path")
    folder = datasets_dir or get_settings().datasets_dir
    source = folder / NAMED_LOGS[fmt]
    if not source.is_file():
        raise MissingLogError(
            f"the {fmt} event log is not at {source}: put the shared datasets folder there "
            "(its README.md names the public origin of each log), point STREAMAPP_DATASETS_DIR "
            "at the folder that holds it, or pass the file with --path"
        )
    return source


def load(fmt: str, path: Path | None = None) -> list[Interaction]:
    """All interactions of a log, sorted by time (stable: ties keep file order)."""
    source = locate(fmt, path)
    rows = list(READERS[fmt](source))
    rows.sort(key=lambda r: r.ts_ms)
    return rows
