from __future__ import annotations

import random

import pytest

from streamapp.learning.learner import DriftMonitor


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_drift_is_detected_soon_after_a_shift_and_not_before(seed):
    rng = random.Random(seed)
    monitor = DriftMonitor()
    before = [monitor.update(rng.random() < 0.8) for _ in range(3000)]
    after = [monitor.update(rng.random() < 0.3) for _ in range(3000)]
    assert not any(before)
    assert any(after[:300]), "a fall from 80 % to 30 % accuracy is found within 300 events"


def test_a_stable_stream_raises_no_alarm():
    rng = random.Random(9)
    monitor = DriftMonitor()
    assert not any(monitor.update(rng.random() < 0.5) for _ in range(10_000))
