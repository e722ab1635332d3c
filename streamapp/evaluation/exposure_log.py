"""``streamapp report exposure``: the exposure and bias figures of the lists the system has
published, read from the topics (:mod:`streamapp.recommend.exposure` computes them, as
``streamapp evaluate`` does for a replay).

What it reads, whole, outside any consumer group: the product table (the compacted inventory
topic: each item's latest category and brand), every interaction the input topics hold (clicks
and carts: which items are new, which users return), and the published lists from ``since``
to ``until`` (by ``generated_at``). Lists and interactions are replayed together in event
time (a list at the time of the event it answers), so an item counts as new, and a user as
new, as they were when each list was made, however late an event arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from matplotlib.figure import Figure

from streamapp.brokers import kafka_options
from streamapp.contracts.events import Limits
from streamapp.ops.log_reader import LogReader
from streamapp.recommend.exposure import (
    SEGMENTS,
    Catalogue,
    ExposureTally,
    exposure_table,
    segment_of,
)
from streamapp.settings import Settings

__all__ = ["markdown", "plot", "read_exposure"]

# Interactions sort before a list of the same event time: the list answers them.
_INTERACTION, _LIST = 0, 1


@dataclass(frozen=True)
class Window:
    """The published lists a report covers, by their ``generated_at`` (ms)."""

    since_ms: int
    until_ms: int | None = None

    def holds(self, ts: int) -> bool:
        return ts >= self.since_ms and (self.until_ms is None or ts < self.until_ms)


async def _catalogues(
    reader: LogReader, settings: Settings, limits: Limits
) -> dict[str, Catalogue]:
    """Each tenant's product table: every item's latest record, its category and brand."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    inventory = settings.topic("inventory")
    async for item in reader.events(inventory, "inventory", limits, settings.batch_max):
        key = (item["tenant"], item["item_id"])
        if key not in latest or latest[key]["ts"] <= item["ts"]:
            latest[key] = item
    catalogues: dict[str, Catalogue] = {}
    for (tenant, item_id), item in latest.items():
        shop = catalogues.setdefault(tenant, Catalogue())
        shop.items.add(item_id)
        if item.get("category"):
            shop.category[item_id] = item["category"]
        if item.get("brand"):
            shop.brand[item_id] = item["brand"]
    return catalogues


async def read_exposure(
    settings: Settings, window: Window, tenant: str | None = None
) -> dict[str, Any]:
    """The figures per tenant (or of ``tenant`` alone) and segment, as a report dict."""
    limits = Limits(settings.tenants, settings.max_event_bytes, 0, 2**62)
    reader = LogReader(kafka_options(settings), f"{settings.app_id}-exposure-report")
    timeline: list[tuple[int, int, dict[str, Any]]] = []
    await reader.start()
    try:
        catalogues = await _catalogues(reader, settings, limits)
        for contract, topic in (("click", "clicks"), ("cart", "carts")):
            async for event in reader.events(
                settings.topic(topic), contract, limits, settings.batch_max
            ):
                if event["interaction"] != "cart_remove":
                    timeline.append((event["ts"], _INTERACTION, event))
        async for record in reader.everything(settings.topic("recommendations"), 5000):
            message = orjson.loads(record.value) if record.value else None
            if message and window.holds(message["generated_at"]):
                timeline.append((message["trigger"]["event_ts"], _LIST, message))
    finally:
        await reader.stop()
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    tally = ExposureTally()
    interactions: dict[tuple[str, str], int] = {}
    for _, kind, body in timeline:
        if tenant is not None and body["tenant"] != tenant:
            continue
        user = (body["tenant"], body["user_id"])
        if kind == _INTERACTION:
            tally.interacted(body["tenant"], body["item_id"])
            interactions[user] = interactions.get(user, 0) + 1
        else:
            segment = segment_of(interactions.get(user, 0))
            tally.published(body["tenant"], segment, [i["item_id"] for i in body["items"]])
    return {
        "since_ms": window.since_ms,
        "until_ms": window.until_ms,
        "tenants": tally.report(catalogues),
    }


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def markdown(report: dict[str, Any]) -> str:
    """A table of the summary figures per tenant and segment, then each tenant's categories
    and brands against the catalogue and the interactions."""
    until = report["until_ms"]
    lines = [
        f"# Exposure of the lists generated from {_utc(report['since_ms'])} to "
        f"{_utc(until) if until is not None else 'now'}\n",
        *exposure_table(
            (
                (f"{tenant} / {segment}", figures)
                for tenant, by_segment in report["tenants"].items()
                for segment, figures in by_segment.items()
            ),
            "tenant / segment",
        ),
    ]
    for tenant, by_segment in report["tenants"].items():
        for attribute in ("category", "brand"):
            groups = by_segment["all"][attribute]["groups"]
            if not groups:
                continue
            lines += [
                f"\n**{tenant}: exposure by {attribute}** (the most exposed; shares of every "
                "list's items)\n",
                f"| {attribute} | exposure share | catalogue share | interaction share |",
                "|---|---|---|---|",
                *(
                    f"| {g['group']} | {g['exposure_share']:.4f} | {g['catalogue_share']:.4f} "
                    f"| {g['interaction_share']:.4f} |"
                    for g in groups
                ),
            ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Any) -> None:
    """Each tenant's and segment's Lorenz curve of exposure, as a PNG."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="every item shown alike")
    for tenant, by_segment in report["tenants"].items():
        for segment in SEGMENTS:
            curve = by_segment[segment]["lorenz"]
            if by_segment[segment]["exposures"]:
                xs = [i / (len(curve) - 1) for i in range(len(curve))]
                gini = by_segment[segment]["gini"]
                ax.plot(xs, curve, label=f"{tenant} / {segment} (Gini {gini:.2f})")
    ax.set_xlabel("share of the catalogue, least exposed first")
    ax.set_ylabel("share of exposures")
    ax.set_title("exposure concentration")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
