"""Property-based: whatever bytes arrive, the decoder either returns an event that satisfies its
contract or raises :class:`InvalidEvent` with a known reason — never another exception, which
would fail a whole batch instead of dead-lettering one event."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamapp.contracts import SCHEMAS_DIR
from streamapp.contracts.events import InvalidEvent, Limits, decode
from streamapp.contracts.schemas import contract

LIMITS = Limits(tenants=("default", "shop2"), max_bytes=4096, min_ts=1_000, max_ts=9_000)
INPUTS = ("click", "cart", "inventory")
REASONS = set(
    orjson.loads((SCHEMAS_DIR / "dead-letter.v1.json").read_bytes())["properties"]["reason"]["enum"]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Objects shaped like our events, with any field possibly wrong, missing or extra.
FIELDS = ("event_id", "user_id", "item_id", "ts", "tenant", "kind", "action", "stock", "category")
event_like = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=12) | json_values,
    max_size=9,
)


def check(payload: bytes | None, message: str) -> None:
    try:
        event = decode(payload, message, LIMITS)
    except InvalidEvent as error:
        assert error.reason in REASONS, error.reason
        return
    assert contract(message).is_valid({k: v for k, v in event.items() if k != "interaction"})
    assert event["tenant"] in LIMITS.tenants
    assert LIMITS.min_ts <= event["ts"] <= LIMITS.max_ts


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("message", INPUTS)
@FUZZ
@given(payload=st.binary(max_size=6000))
def test_any_bytes_decode_or_are_rejected_with_a_reason(message, payload):
    check(payload, message)


@pytest.mark.parametrize("message", INPUTS)
@FUZZ
@given(value=event_like | json_values)
def test_any_json_decodes_or_is_rejected_with_a_reason(message, value):
    check(
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS) if _encodable(value) else b"{", message
    )


def _encodable(value: object) -> bool:
    try:
        orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return False
    return True
