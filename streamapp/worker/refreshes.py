"""Refresh requests: a new list for every user shown an item that went out of stock, was
blocked, or is moved by a rule that started or ended. Each request is keyed by user id, so
the partition that owns the user publishes the corrected list.
"""

from __future__ import annotations

from streamapp.contracts.events import Headers
from streamapp.contracts.messages import refresh
from streamapp.ops import metrics
from streamapp.settings import Settings
from streamapp.state.store import Store
from streamapp.worker.sink import Sink


class Refreshes:
    """Sends the refresh requests of one cause (a stock-out, a rule's start or end)."""

    def __init__(self, settings: Settings, store: Store, sink: Sink) -> None:
        self.store = store
        self.sink = sink
        self.topic = settings.topic("refresh")

    async def route(
        self,
        tenant: str,
        item: str,
        cause: str,
        now: int,
        users: list[str],
        page: bool,
        reason: str = "stock_out",
        headers: Headers | None = None,
    ) -> None:
        """Ask for a new list for ``users``, and, when ``page``, for every user the item's
        reverse index holds. An item in very many lists is paged, and each page confirmed
        before the next is read, so what one cause holds in memory stays bounded."""

        async def send(chunk: list[str]) -> None:
            for user_id in chunk:
                message = refresh(tenant, user_id, item, cause, now, reason)
                await self.sink.send(self.topic, user_id.encode(), message, headers)
            metrics.REFRESHES.inc(len(chunk))

        await send(users)
        if page:
            async for chunk in self.store.shown_to(tenant, item, now):
                await send(chunk)
                await self.sink.flush()
