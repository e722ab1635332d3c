"""The streaming attribution on the real broker: lists and clicks published after it started,
read from their topics out of step, are joined per experiment and variant as the report joins
them; what came before its start time is left out. The same consumer keeps the live exposure
figures."""

from __future__ import annotations

import pytest

from streamapp.experiments.stream import StreamingAttribution
from streamapp.recommend.exposure import ExposureWindows
from tests.support import now_ms, send, wait_for

pytestmark = pytest.mark.integration


def listed(user: str, variant: str, at: int, items: list[str]) -> dict:
    return {
        "user_id": user,
        "tenant": "default",
        "items": [{"item_id": i, "score": 1.0, "source": "popular"} for i in items],
        "generated_at": at,
        "model_version": "m1",
        "experiment": "exp",
        "variant": variant,
        "trigger": {
            "event_id": "e",
            "topic": "clicks",
            "partition": 0,
            "offset": 0,
            "event_ts": at - 40,
            "input_ts": at - 30,
            "reason": "interaction",
        },
    }


async def test_lists_and_later_clicks_are_joined_per_variant_as_they_arrive(deployment, producer):
    recommendations, clicks = deployment.topic("recommendations"), deployment.topic("clicks")
    start = now_ms()
    await send(producer, recommendations, "old", listed("old", "a", start - 60_000, ["i1"]))
    stream = StreamingAttribution(deployment.settings, window_ms=60_000, grace_ms=0)
    await stream.start(start)
    try:
        # The click is sent before the list it follows: applied in time order, it still counts.
        at = now_ms()
        click = {"event_id": "c1", "user_id": "u1", "item_id": "i2", "ts": at + 5}
        await send(producer, clicks, "u1", click)
        await send(producer, recommendations, "u1", listed("u1", "a", at, ["i1", "i2"]))
        await send(producer, recommendations, "u2", listed("u2", "b", at, ["i3"]))

        def joined() -> bool:
            users = stream.attribution.users
            return ("exp", "a") in users and users[("exp", "a")]["default", "u1"].clicks == 1

        async def polled() -> bool:
            await stream.poll(100)
            return joined() and ("exp", "b") in stream.attribution.users

        await wait_for(polled, timeout=30, what="the list and its click joined")
        a = stream.attribution.users[("exp", "a")]
        assert set(a) == {("default", "u1")}  # the list from before the start is left out
        assert a[("default", "u1")].exposures == 1
        assert a[("default", "u1")].latency_ms == 30
        assert stream.attribution.users[("exp", "b")][("default", "u2")].clicks == 0
    finally:
        await stream.stop()


async def test_the_same_consumer_keeps_the_live_exposure_windows(deployment, producer):
    """Every list (with or without an experiment), the interactions and the product table,
    read from the broker, close a window with the figures the report would give."""
    topic = deployment.topic
    start = now_ms()
    windows = ExposureWindows(window_ms=1000, users_max=100)
    stream = StreamingAttribution(deployment.settings, 60_000, grace_ms=0, exposure=windows)
    for item, brand in (("i1", "acme"), ("i2", "zed"), ("i3", "zed"), ("i4", "zed")):
        product = {"event_id": f"p{item}", "item_id": item, "stock": 1, "ts": start}
        await send(producer, topic("inventory"), item, {**product, "brand": brand})
    await stream.start(start)
    try:
        at = now_ms()
        for n, (user, item) in enumerate((("u1", "i1"), ("u1", "i2"), ("u2", "i1"))):
            click = {"event_id": f"c{n}", "user_id": user, "item_id": item, "ts": at + n}
            await send(producer, topic("clicks"), user, click)
        plain = {**listed("u1", "", at + 10, ["i1", "i3"]), "experiment": "", "variant": ""}
        await send(producer, topic("recommendations"), "u1", plain)
        await send(producer, topic("recommendations"), "u2", listed("u2", "b", at + 10, ["i4"]))

        async def closed() -> bool:
            await stream.poll(100)
            return windows.completed is not None

        await wait_for(closed, timeout=30, what="a completed exposure window")
        shop = windows.completed["default"]
        assert shop["all"]["lists"] == 2, "a list without an experiment counts too"
        assert (shop["returning-users"]["lists"], shop["new-users"]["lists"]) == (1, 1)
        assert shop["all"]["new_item_share"] == round(2 / 3, 4)  # i3 and i4: nobody's yet
        assert shop["all"]["catalogue_items"] == 4
        brands = {g["group"]: g["exposure_share"] for g in shop["all"]["brand"]["groups"]}
        assert brands == {"zed": round(2 / 3, 4), "acme": round(1 / 3, 4)}
    finally:
        await stream.stop()
