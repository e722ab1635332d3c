from __future__ import annotations

import math

import pytest

from streamapp.state.decay import (
    decay_rate,
    forward_weight,
    needs_rescale,
    rescale_factor,
    stored_weight,
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


def test_rescale_is_due_while_a_users_sums_are_still_integers():
    rate = decay_rate(HOUR)
    horizon = 0.0
    while not needs_rescale(horizon, 0.0, rate):
        horizon += HOUR
    assert 24 <= horizon / HOUR <= 28  # rare: once in about 26 half-lives
    newest = stored_weight(1.0, horizon - HOUR, 0.0, rate)
    assert 50 * newest < 2**52  # Redis stores a whole score below 2**52 as an integer
    # A replay that never moves its landmark (the evaluator) stays finite 20 times as long.
    assert math.isfinite(stored_weight(5.0, 20 * horizon, 0.0, rate) * 1e9)


def test_stored_weights_are_whole_units_that_sum_exactly():
    rate = decay_rate(HOUR)
    times = [t * HOUR / 7 for t in range(50)]
    weights = [stored_weight(w, t, 0.0, rate) for w in (1.0, 3.0, 5.0) for t in times]
    assert all(w == int(w) for w in weights)
    for w, t in ((1.0, 0.0), (3.0, 2.5 * HOUR), (5.0, 20 * HOUR)):
        exact = 1_000_000 * forward_weight(w, t, 0.0, rate)
        assert abs(stored_weight(w, t, 0.0, rate) - exact) <= 0.5
    # Any order gives the same sum: a replay in another order leaves the same state.
    assert sum(weights) == sum(reversed(weights)) == sum(sorted(weights))


def test_half_life_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        decay_rate(0)
