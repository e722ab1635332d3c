"""Faust's Kafka transport with the consumer's fetch batching under our control.

Faust builds its aiokafka consumer with ``fetch_min_bytes=1`` and offers no setting for it, so
the broker answers a fetch as soon as one record is there: at 1,000 events/s, a fetch round trip
every millisecond or two, each a response over all the consumer's input partitions (21 for the
worker) that Faust's consumer thread decodes in Python and hands to the event loop.

- The learner has no latency target: 256 KiB / 500 ms. About half its CPU had gone to the
  consumer thread, taken from the worker on the same cores (the worker's freshness p99 went
  from 106–157 ms to 40–72 ms, in runs of the bench phases).
- The worker waits at most 4 ms, in the broker, and mostly while it is still processing the
  batch before; its batch window shrinks from 5 to 3 ms to match. Tried against 1 byte and a
  5 ms window in 7 interleaved pairs of 20 s bench phases with the learner's model served, with
  a 2 ms window: worker CPU 63 → 57 % of a core; pooled freshness p50 24.3/24.5 → 23.2/23.3 ms,
  p90 34.2/34.9 → 31.9/32.3 ms, p99 47.0/50.5 → 43.9/45.8 ms; runs with p99 ≥ 50 ms 3 of 7 →
  0 of 7. But a 2 ms window cut catch-up throughput from ≈4.4k to 3.0–3.2k events/s (smaller
  batches), so the default is 3 ms: ≈3.7k events/s, freshness p99 38.4, 40.2 and 40.8 ms in
  three ``streamapp bench --seconds 20`` runs (before the co-visitation window went from 5 to
  3; docs/performance.md has the current figures). A 1 ms window, or a 6 ms wait, gave pooled p99
  54–55 ms (3 runs each, not interleaved).

aiokafka keeps the constructor's fetch settings on the consumer until ``start()`` builds its
fetcher from them; this transport sets them in between. ``tests/integration/test_fetch_batching.py``
fails if an aiokafka or Faust upgrade moves either seam.
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
