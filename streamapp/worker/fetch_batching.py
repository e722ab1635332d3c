"""Faust's Kafka transport with the consumer's fetch batching under our control.

Faust builds its aiokafka consumer with ``fetch_min_bytes=1`` and offers no setting for it, so
the broker answers a fetch as soon as one record is there: at 1,000 events/s, a fetch round trip
every millisecond or two, each a response over all the consumer's input partitions (21 for the
worker) that Faust's consumer thread decodes in Python and hands to the event loop.

The learner has no latency target and waits for 256 KiB or 500 ms; the worker lets the broker
hold a fetch up to 4 ms, mostly while it still processes the batch before. What each choice
gained, measured: docs/performance.md.

aiokafka keeps the constructor's fetch settings on the consumer until ``start()`` builds its
fetcher from them; this transport sets them in between.
``tests/integration/test_fetch_batching.py`` fails if an aiokafka or Faust upgrade moves either
seam.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver


class _Thread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_min_bytes = transport.fetch_min_bytes
        consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _Thread(self, loop=self.loop, beacon=self.beacon)


class FetchBatchingTransport(driver.Transport):
    """The aiokafka transport whose consumers wait for ``fetch_min_bytes`` (or
    ``fetch_max_wait_ms``) per fetch."""

    Consumer = _Consumer
    fetch_min_bytes = 1
    fetch_max_wait_ms = 500


def batch_fetches(app: faust.App, min_bytes: int, max_wait_ms: int) -> None:
    """Make ``app`` consume through a :class:`FetchBatchingTransport`; call before it starts."""
    transport = FetchBatchingTransport(app.conf.broker_consumer, app)
    transport.fetch_min_bytes = min_bytes
    transport.fetch_max_wait_ms = max_wait_ms
    app.transport = transport
