"""The learner's fetch batching reaches the fetcher aiokafka builds when it starts.

The setting is applied through a seam of Faust and aiokafka (see ``streamapp.fetch_batching``);
this fails if an upgrade of either moves it.
"""

from __future__ import annotations

import asyncio

import pytest

from streamapp.app import create_app, create_learner_app
from streamapp.settings import get_settings

pytestmark = pytest.mark.integration


async def test_the_learner_fetches_in_batches_and_the_worker_does_not(stack):
    settings = get_settings().model_copy(
        update={"learner_fetch_min_bytes": 123_456, "learner_fetch_max_wait_ms": 321}
    )
    loop = asyncio.get_running_loop()
    learner = create_learner_app(settings).consumer._thread._create_consumer(loop=loop)
    worker = create_app(settings).consumer._thread._create_consumer(loop=loop)
    for consumer in (learner, worker):
        await consumer.start()
    try:
        assert learner._fetcher._fetch_min_bytes == 123_456
        assert learner._fetcher._fetch_max_wait_ms == 321
        assert worker._fetcher._fetch_min_bytes == 1, "serving fetches without waiting"
    finally:
        for consumer in (learner, worker):
            await consumer.stop()
