from __future__ import annotations

import math

import pytest

from streamapp.state.decay import (
    decay_rate,
    forward_weight,
    needs_rescale,
    rescale_factor,
    value_at,
)

HOUR = 3_600_000.0


@pytest.mark.parametrize("half_life", [1_000.0, HOUR, 24 * HOUR])
@pytest.mark.parametrize("landmark", [0.0, 1.7e12])
def test_half_life_is_exact(half_life, landmark):
    rate = decay_rate(half_life)
    now = landmark + 5 * half_life
    stored = forward_weight(3.0, now, landmark, rate)
    assert value_at(stored, now, landmark, rate) == pytest.approx(3.0, rel=1e-12)
    assert value_at(stored, now + half_life, landmark, rate) == pytest.approx(1.5, rel=1e-12)
    assert value_at(stored, now + 3 * half_life, landmark, rate) == pytest.approx(
        3.0 / 8, rel=1e-12
    )


def test_sum_of_events_decays_like_each_event():
    rate = decay_rate(HOUR)
    events = [(1.0, 0.0), (2.0, HOUR), (5.0, 2.5 * HOUR)]
    stored = sum(forward_weight(w, t, 0.0, rate) for w, t in events)
    now = 4 * HOUR
    expected = sum(w * 0.5 ** ((now - t) / HOUR) for w, t in events)
    assert value_at(stored, now, 0.0, rate) == pytest.approx(expected, rel=1e-12)


def test_rescale_preserves_values_and_order():
    rate = decay_rate(HOUR)
    old, new = 0.0, 100 * HOUR
    stored = {
        item: sum(forward_weight(w, t, old, rate) for w, t in evs)
        for item, evs in {
            "a": [(1.0, 10 * HOUR), (1.0, 99 * HOUR)],
            "b": [(5.0, 50 * HOUR)],
            "c": [(0.5, 120 * HOUR)],
        }.items()
    }
    factor = rescale_factor(old, new, rate)
    rescaled = {k: v * factor for k, v in stored.items()}
    now = 130 * HOUR
    for item, value in stored.items():
        assert value_at(rescaled[item], now, new, rate) == pytest.approx(
            value_at(value, now, old, rate), rel=1e-12
        )
    assert sorted(stored, key=stored.__getitem__) == sorted(rescaled, key=rescaled.__getitem__)
    # New events after the rescale add on the same scale as the rescaled history.
    later = forward_weight(1.0, 125 * HOUR, new, rate)
    assert value_at(rescaled["c"] + later, now, new, rate) == pytest.approx(
        value_at(stored["c"] + forward_weight(1.0, 125 * HOUR, old, rate), now, old, rate),
        rel=1e-12,
    )


def test_rescale_is_due_before_float_overflow():
    rate = decay_rate(HOUR)
    horizon = 0.0
    while not needs_rescale(horizon, 0.0, rate):
        horizon += HOUR
    assert math.isfinite(forward_weight(1e6, horizon, 0.0, rate) * 1e9)


def test_half_life_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        decay_rate(0)
