"""The worker's HTTP surface: health, readiness, metrics and the per-user list."""

from __future__ import annotations

import pytest

from tests.support import Tail, now_ms, send, wait_for

pytestmark = pytest.mark.integration


async def test_http_serves_lists_health_metrics_and_lag(deployment, producer):
    worker = deployment.worker().start()
    assert worker.get("/healthz") == {"status": "ok"}
    assert worker.get("/readyz")["status"] == "ready"
    clicks = deployment.topic("clicks")
    t = now_ms()
    for n, item in enumerate(["a", "b", "a", "c"]):
        await send(
            producer,
            clicks,
            f"u{n % 2}",
            {"event_id": f"h{n}", "user_id": f"u{n % 2}", "item_id": item, "ts": t + n},
        )
    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "h3" for r in rs))
        last = [r for r in recs.records if r["user_id"] == "u1"][-1]
    assert worker.get("/v1/users/u1/recommendations") == last
    unknown = worker.get("/v1/users/stranger/recommendations")
    assert unknown["source"] == "popular"
    assert {i["item_id"] for i in unknown["items"]} == {"a", "b", "c"}

    metrics = worker.text("/metrics")
    for name in (
        "streamapp_events_total",
        "streamapp_batch_size_events",
        "streamapp_batch_processing_seconds",
        "streamapp_event_to_publish_seconds",
        "streamapp_lists_published_total",
    ):
        assert name in metrics

    # The lag gauge is read from the broker for every partition the group has committed.
    group = deployment.settings.app_id

    def lag_partitions() -> set[tuple[str, str]]:
        rows = [
            line
            for line in worker.text("/metrics").splitlines()
            if line.startswith(f'streamapp_consumer_lag_messages{{group="{group}"')
        ]
        return {
            (r.split('topic="')[1].split('"')[0], r.split('partition="')[1].split('"')[0])
            for r in rows
        }

    await wait_for(lambda: any(t == clicks for t, _ in lag_partitions()), what="lag gauge")
