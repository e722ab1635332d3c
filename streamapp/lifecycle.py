"""``async with`` for the clients that hold connections: they open in ``start`` and close in
``stop``, inside the running loop (aiokafka and redis-py bind to it)."""

from __future__ import annotations

from typing import Self

__all__ = ["Lifecycle"]


class Lifecycle:
    """A client with ``start`` and ``stop``, usable as ``async with Client(...) as client:``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
