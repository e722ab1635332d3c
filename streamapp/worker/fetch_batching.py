"""Faust's Kafka transport made to move records in batches: fetch batching under our control,
and each fetch's records handed to the streams in one task.

Faust builds its aiokafka consumer with ``fetch_min_bytes=1`` and offers no setting for it, so
the broker answers a fetch as soon as one record is there: at 1,000 events/s, a fetch round trip
every millisecond or two, each a response over all the consumer's input partitions (21 for the
worker) that Faust's consumer thread decodes in Python and hands to the event loop. Every round
trip costs the worker and the broker CPU whether it brings one record or a hundred.

The learner has no latency target and waits for 256 KiB or 500 ms; the worker lets the broker
hold a fetch up to 10 ms, mostly while it still processes the batch before. aiokafka keeps the
constructor's fetch settings on the consumer until ``start()`` builds its fetcher from them;
this transport sets them in between.

Faust's loop over a fetch waits for each record's delivery together with the flow's suspension
(a rebalance), the consumer's stop and its crash: four tasks and an ``asyncio.wait`` per record.
Here one such wait covers a fetch's records, which one coroutine delivers in order, with
Faust's own bookkeeping per record (read offsets, gaps, commit every N acks); a suspension
cancels the delivery of the rest of the fetch, as it cancels the one record Faust's loop is
delivering, and the records are fetched again from the committed offsets after the rebalance.
What each choice gained, measured: docs/performance.md.

``tests/integration/test_fetch_batching.py`` fails if an aiokafka or Faust upgrade moves a
seam.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiokafka
import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from mode import ServiceT

log = logging.getLogger(__name__)

# Records delivered between two turns of the event loop in a long fetch (Faust's own figure).
YIELD_EVERY = 100


class _Thread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_min_bytes = transport.fetch_min_bytes
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _Thread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        stopping = self._stopped.is_set
        fetcher_stopping = fetcher._stopped.is_set  # type: ignore[attr-defined]
        ended: tuple[type[BaseException], ...] = (
            *self.consumer_stopped_errors,
            asyncio.CancelledError,
        )
        try:
            while not (stopping() or fetcher_stopping()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = [pair async for pair in self.getmany(timeout=1.0)]
                await asyncio.sleep(0)  # a fetch that was already there never yielded
                if fetched and not self.should_stop:
                    await self.wait_first(self._deliver(fetched), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except ended:
            if self.transport.app.should_stop:
                return
            raise
        except Exception:
            log.exception("the consumer's delivery of fetched records failed")
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, fetched: list[tuple[TP, Message]]) -> None:
        read = self._read_offset
        for position, (tp, message) in enumerate(fetched, 1):
            offset, last = message.offset, read[tp]
            if last is not None and offset < last:
                continue  # fetched before a seek back: it comes again
            if last and offset - last > 1 and self.app.topics.acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            await self.callback(message)
            read[tp] = offset
            if position % YIELD_EVERY == 0:
                await asyncio.sleep(0)


class FetchBatchingTransport(driver.Transport):
    """The aiokafka transport whose consumers wait for ``fetch_min_bytes`` (or
    ``fetch_max_wait_ms``) per fetch and deliver each fetch in one task."""

    Consumer = _Consumer
    fetch_min_bytes = 1
    fetch_max_wait_ms = 500


def batch_fetches(app: faust.App, min_bytes: int, max_wait_ms: int) -> None:
    """Make ``app`` consume through a :class:`FetchBatchingTransport`; call before it starts."""
    transport = FetchBatchingTransport(app.conf.broker_consumer, app)
    transport.fetch_min_bytes = min_bytes
    transport.fetch_max_wait_ms = max_wait_ms
    app.transport = transport
