"""The streaming attribution's buffer: records taken out of step are applied in time order,
lists before outcomes at one millisecond, and nothing newer than the watermark."""

from __future__ import annotations

import orjson

from streamapp.experiments.stream import StreamingAttribution
from streamapp.settings import Settings

SETTINGS = Settings()


def listed(user: str, at: int, items: list[str]) -> bytes:
    return orjson.dumps(
        {
            "user_id": user,
            "tenant": "default",
            "items": [{"item_id": i, "score": 1.0, "source": "popular"} for i in items],
            "generated_at": at,
            "model_version": "m1",
            "experiment": "exp",
            "variant": "a",
        }
    )


def clicked(user: str, item: str, at: int) -> bytes:
    return orjson.dumps({"event_id": f"{user}{at}", "user_id": user, "item_id": item, "ts": at})


def test_a_click_taken_before_its_list_counts_once_both_are_past_the_watermark():
    stream = StreamingAttribution(SETTINGS, window_ms=60_000)
    stream._take(SETTINGS.topic("clicks"), clicked("u1", "i2", 1_000))
    stream._take(SETTINGS.topic("recommendations"), listed("u1", 1_000, ["i1", "i2"]))
    assert stream.advance(999) == 0
    assert stream.advance(1_000) == 2
    user = stream.attribution.users[("exp", "a")][("default", "u1")]
    assert (user.exposures, user.clicks) == (1, 1)


def test_lists_of_no_experiment_and_invalid_events_are_left_out():
    stream = StreamingAttribution(SETTINGS, window_ms=60_000)
    plain = orjson.loads(listed("u1", 1_000, ["i1"]))
    stream._take(SETTINGS.topic("recommendations"), orjson.dumps({**plain, "experiment": ""}))
    stream._take(SETTINGS.topic("clicks"), b"not json")
    assert stream.pending == []


def test_a_price_from_the_product_table_fills_a_purchase_without_one():
    stream = StreamingAttribution(SETTINGS, window_ms=60_000)
    item = {"event_id": "s1", "item_id": "i1", "stock": 5, "price": 12.5, "ts": 500}
    stream._take(SETTINGS.topic("inventory"), orjson.dumps(item))
    stream._take(SETTINGS.topic("recommendations"), listed("u1", 1_000, ["i1"]))
    bought = {
        "event_id": "b1",
        "user_id": "u1",
        "item_id": "i1",
        "action": "purchase",
        "quantity": 2,
        "ts": 2_000,
    }
    stream._take(SETTINGS.topic("carts"), orjson.dumps(bought))
    stream.advance(5_000)
    assert stream.attribution.users[("exp", "a")][("default", "u1")].revenue == 25.0
