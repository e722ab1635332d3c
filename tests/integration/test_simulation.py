"""`streamapp simulate` on the real stack: its shoppers' events reach the worker, their lists
reach the shoppers, and the summary tells true and measured clicks apart per variant."""

from __future__ import annotations

import subprocess

import orjson
import pytest

from tests.support import BIN

pytestmark = pytest.mark.integration


def test_simulated_shoppers_read_their_lists_and_act_on_them(deployment):
    deployment.worker().start()
    done = subprocess.run(
        [str(BIN), "simulate", "--shoppers", "30", "--seconds", "10", "--rate", "60"],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary["events"]["click"] > 100
    assert set(summary["events"]) <= {"click", "cart_add", "purchase", "return"}
    # Lists came back for the shoppers' clicks and were read; no experiment runs.
    assert summary["lists_read"] > 20
    (label,) = summary["variants"]
    assert label == ":control"
    tally = summary["variants"][label]
    assert tally["users"] > 5
    assert 0 < tally["true_clicks_per_list"] < 10
    assert 0 <= tally["measured_clicks_per_list"] <= 1
