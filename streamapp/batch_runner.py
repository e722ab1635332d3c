"""Batches are all-or-nothing, and a batch that failed is never acknowledged.

An agent hands each batch to :class:`BatchRunner`, which returns only when the batch is done:
its state written, and every record it produced acknowledged by the broker (a processor ends
with :meth:`~streamapp.sink.Sink.flush`, which raises the first refusal). A *transient*
failure (:mod:`streamapp.failures`) is retried with capped exponential backoff for as long as
it lasts, while :class:`Health` tells ``/readyz`` and Prometheus that the agent is stalled. A
*deterministic* failure is retried a few times too, then the batch is split in halves (in
order) until the events that cause it stand alone; only those are rejected (the worker sends
them to the dead-letter topic with the reason), the others are applied.

The runner lets no exception out but those it is told to give up on: the agent's loop, and with
it Faust's acknowledgement of the batch, only moves on once :meth:`BatchRunner.run` has
returned. Cancellation (shutdown, a rebalance) passes too, and the agent must then not
acknowledge the batch: see ``held`` in :mod:`streamapp.app`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from streamapp import metrics
from streamapp.failures import backoff_s, is_transient, reason
from streamapp.messages import Record
from streamapp.sink import Sink

__all__ = ["BatchRunner", "Health", "Process", "Reject"]

log = logging.getLogger(__name__)

Process = Callable[[list[Record]], Awaitable[None]]
Reject = Callable[[Record, BaseException], Awaitable[None]]


class Health:
    """Which agents are stalled on a failing batch, and since when (``/readyz`` reads it)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.stalled: dict[str, float] = {}

    def stall(self, agent: str) -> None:
        if agent not in self.stalled:
            self.stalled[agent] = since = self.clock()
            metrics.STALLED_SINCE.labels(agent).set(since)

    def flow(self, agent: str) -> None:
        since = self.stalled.pop(agent, None)
        if since is not None:
            metrics.STALLED_SINCE.labels(agent).set(0)
            log.warning("agent=%s resumed after %.1f s stalled", agent, self.clock() - since)

    def problem(self) -> str | None:
        """Why the process is not ready, or None.

        >>> health = Health(clock=lambda: 100.0)
        >>> health.stall("interactions")
        >>> health.problem()
        'interactions stalled for 0.0 s on a failing batch (retrying)'
        """
        if not self.stalled:
            return None
        now = self.clock()
        return ", ".join(
            f"{agent} stalled for {now - since:.1f} s on a failing batch (retrying)"
            for agent, since in sorted(self.stalled.items())
        )


class BatchRunner:
    """Runs one agent's batches until each is done (see the module docstring)."""

    def __init__(
        self,
        agent: str,
        process: Process,
        sink: Sink,
        reject: Reject,
        health: Health,
        deterministic_retries: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        gives_up_on: tuple[type[Exception], ...] = (),
    ) -> None:
        self.agent = agent
        self.process = process
        self.sink = sink
        self.reject = reject
        self.health = health
        self.deterministic_retries = deterministic_retries
        self.sleep = sleep
        # Failures that end the run at once, raised to the caller: a replay inside a batch
        # stops when the state it rebuilds is lost, and the batch starts over.
        self.gives_up_on = gives_up_on

    async def run(self, records: Sequence[Record]) -> None:
        """Apply ``records`` (in order); returns once every one is applied or rejected."""
        await self._run(list(records), self.deterministic_retries)
        self.health.flow(self.agent)

    async def _attempt(self, records: list[Record]) -> None:
        try:
            await self.process(records)
        except BaseException:
            self.sink.abandon()
            raise

    async def _run(self, records: list[Record], retries: int) -> None:
        """``retries``: how often a deterministic failure is tried again before the batch is
        split. Only the whole batch gets them (the failure may pass after all); its halves are
        split at once, so narrowing down a batch of n costs about 2n attempts, not 2n waits."""
        attempt = 0
        while True:
            try:
                await self._attempt(records)
                return
            except self.gives_up_on:
                raise
            except Exception as exc:
                attempt += 1
                self._failed(exc, records, attempt)
                if is_transient(exc) or attempt <= retries:
                    await self.sleep(backoff_s(attempt))
                    continue
                if len(records) > 1:
                    middle = len(records) // 2
                    await self._run(records[:middle], 0)
                    await self._run(records[middle:], 0)
                    return
                await self._reject(records[0], exc)
                return

    def _failed(self, exc: Exception, records: list[Record], attempt: int) -> None:
        label = reason(exc)
        metrics.BATCH_FAILURES.labels(self.agent, label).inc()
        self.health.stall(self.agent)
        first = records[0]
        log.warning(
            "batch failed agent=%s reason=%s attempt=%d events=%d first=%s@%d: %s",
            self.agent,
            label,
            attempt,
            len(records),
            first.tp,
            first.offset,
            exc,
            exc_info=not is_transient(exc),
        )

    async def _reject(self, record: Record, exc: BaseException) -> None:
        """Hand over the one event that fails for good; that must succeed too, so it is retried
        like a transient failure (nothing is dropped because its dead letter could not be sent)."""
        log.error(
            "event rejected agent=%s tp=%s offset=%d reason=%s",
            self.agent,
            record.tp,
            record.offset,
            reason(exc),
        )
        attempt = 0
        while True:
            try:
                await self.reject(record, exc)
                return
            except Exception as error:
                self.sink.abandon()
                attempt += 1
                self._failed(error, [record], attempt)
                await self.sleep(backoff_s(attempt))
