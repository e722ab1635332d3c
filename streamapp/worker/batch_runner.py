"""Batches are all-or-nothing, and a batch that failed is never acknowledged.

An agent hands each batch to :class:`BatchRunner`, which returns only when the batch is done:
its state written, and every record it produced acknowledged by the broker (a processor ends
with :meth:`~streamapp.worker.sink.Sink.flush`, which raises the first refusal). A *transient*
failure (:mod:`streamapp.failures`) is retried with capped exponential backoff for as long as
it lasts, while :class:`Health` tells ``/readyz`` and Prometheus that the agent is stalled. A
*deterministic* failure is retried a few times too, then the batch is split in halves (in
order) until the events that cause it stand alone; only those are rejected (the worker sends
them to the dead-letter topic with the reason), the others are applied.

The runner lets no exception out but those it is told to give up on: the agent's loop, and with
it Faust's acknowledgement of the batch, only moves on once :meth:`BatchRunner.run` has
returned. Cancellation (shutdown, a rebalance) passes too, and the agent must then not
acknowledge the batch: see ``held`` in :mod:`streamapp.worker.app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from streamapp.contracts.events import Record
from streamapp.failures import backoff_s, is_transient, reason
from streamapp.http.health import Health
from streamapp.ops import metrics
from streamapp.worker.sink import Sink

__all__ = ["BatchRunner", "Health", "Process", "Reject"]

log = logging.getLogger(__name__)

Process = Callable[[list[Record]], Awaitable[None]]
Reject = Callable[[Record, BaseException], Awaitable[None]]


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
