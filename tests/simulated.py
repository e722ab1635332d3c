"""The simulated shop the end-to-end tests judge the experiment machinery with: the world's
own model promoted (the best there can be), its shoppers at work through `streamapp simulate`."""

from __future__ import annotations

import subprocess

import numpy as np
import orjson

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.snapshots import Snapshot
from streamapp.simulation.world import World
from streamapp.state.store import Store
from tests.support import BIN, now_ms

# The simulated shop ranks by its model alone (popularity breaks ties for users it has no
# vector for), so a broken model shows in the shoppers' clicks.
WEIGHTS = orjson.dumps({"mf": 1.0, "popular": 0.05}).decode()
SEED, SHOPPERS, ITEMS = 3, 300, 300


def simulate(deployment, seconds: float) -> subprocess.Popen[str]:
    command = [str(BIN), "simulate", "--shoppers", str(SHOPPERS), "--items", str(ITEMS)]
    command += ["--seconds", str(seconds), "--rate", "200", "--seed", str(SEED)]
    return subprocess.Popen(
        command, env=deployment.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def promote_the_truth(store: Store, registry: ModelRegistry) -> str:
    """The simulated world's own item vectors as the promoted model, and each shopper's taste as
    their user vector: the best model there can be, so that losing it shows."""
    world = World(SEED, SHOPPERS, ITEMS)
    ids = [f"default:{item}" for item in world.catalogue.ids]
    vectors = world.catalogue.vectors.astype(np.float32)
    truth = Snapshot(
        "mf-truth",
        now_ms(),
        1,
        {},
        "pairwise",
        ids,
        vectors,
        support=np.full(len(ids), 100, dtype=np.uint32),
    )
    await registry.save(truth, promote=True)
    tastes = {s.user_id: s.taste.tolist() for s in world.shoppers}
    await store.write_user_vectors("default", tastes)
    return truth.version
