from __future__ import annotations

import orjson
import pytest

from streamapp.contracts.events import InvalidEvent, Limits, decode

LIMITS = Limits(tenants=("default", "shop2"), max_bytes=4096, min_ts=1_000, max_ts=9_000)
CLICK = {"event_id": "e1", "user_id": "u1", "item_id": "i1", "ts": 5_000}
CART = {**CLICK, "action": "add"}


def raw(value: object) -> bytes:
    return orjson.dumps(value)


@pytest.mark.parametrize(
    ("contract", "payload", "reason", "field"),
    [
        ("click", b"{not json", "malformed_json", None),
        ("click", b"", "malformed_json", None),
        ("click", None, "malformed_json", None),
        ("click", b'{"event_id": "\xff\xfe"}', "invalid_utf8", None),
        ("click", raw([1, 2]), "schema_violation", None),
        ("click", raw({**CLICK, "ts": "yesterday"}), "schema_violation", "/ts"),
        ("click", raw({**CLICK, "user_id": 42}), "schema_violation", "/user_id"),
        ("click", raw({k: v for k, v in CLICK.items() if k != "item_id"}), "schema_violation", ""),
        ("click", raw({**CLICK, "kind": "wishlist"}), "unknown_event_type", "/kind"),
        ("cart", raw({**CART, "action": "teleport"}), "unknown_event_type", "/action"),
        ("cart", raw(CLICK), "schema_violation", ""),
        ("click", raw({**CLICK, "pad": "x" * 5000}), "oversized", None),
        ("click", raw({**CLICK, "tenant": "evil"}), "unknown_tenant", "/tenant"),
        ("click", raw({**CLICK, "ts": 9_001}), "timestamp_out_of_range", "/ts"),
        ("click", raw({**CLICK, "ts": 999}), "timestamp_out_of_range", "/ts"),
        (
            "inventory",
            raw({"event_id": "x", "item_id": "i", "ts": 5_000, "stock": -1}),
            "schema_violation",
            "/stock",
        ),
    ],
)
def test_bad_input_is_rejected_with_a_reason(contract, payload, reason, field):
    with pytest.raises(InvalidEvent) as caught:
        decode(payload, contract, LIMITS)
    assert caught.value.reason == reason
    assert caught.value.field == field
    assert str(caught.value)


def test_rejection_names_the_event_when_it_can():
    with pytest.raises(InvalidEvent) as caught:
        decode(raw({**CLICK, "ts": "x"}), "click", LIMITS)
    assert caught.value.event_id == "e1"


@pytest.mark.parametrize(
    ("contract", "payload", "interaction"),
    [
        ("click", CLICK, "click"),
        ("click", {**CLICK, "kind": "fav"}, "fav"),
        ("cart", CART, "cart_add"),
        ("cart", {**CART, "action": "remove"}, "cart_remove"),
        ("cart", {**CART, "action": "purchase", "quantity": 2, "price": 9.5}, "purchase"),
    ],
)
def test_valid_interactions_get_their_weight_name(contract, payload, interaction):
    event = decode(raw(payload), contract, LIMITS)
    assert event["interaction"] == interaction
    assert event["tenant"] == "default"


def test_extra_fields_are_allowed_and_tenant_kept():
    event = decode(
        raw({**CLICK, "tenant": "shop2", "context": {"page": "home"}, "x": 1}), "click", LIMITS
    )
    assert event["tenant"] == "shop2"


def test_events_from_before_dwell_and_returns_decode_as_they_did_and_the_new_fields_decode():
    assert decode(raw(CLICK), "click", LIMITS) == {
        **CLICK,
        "tenant": "default",
        "interaction": "click",
    }
    assert decode(raw(CART), "cart", LIMITS)["interaction"] == "cart_add"
    dwell = decode(raw({**CLICK, "dwell_ms": 4_200}), "click", LIMITS)
    assert dwell["dwell_ms"] == 4_200
    returned = decode(raw({**CART, "action": "return", "quantity": 2}), "cart", LIMITS)
    assert returned["interaction"] == "return"
    with pytest.raises(InvalidEvent) as caught:
        decode(raw({**CLICK, "dwell_ms": -1}), "click", LIMITS)
    assert (caught.value.reason, caught.value.field) == ("schema_violation", "/dwell_ms")
