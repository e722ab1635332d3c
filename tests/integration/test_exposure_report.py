"""`streamapp report exposure` on the real stack: the lists the worker published, read back from
their topic with the product table and the interactions, per segment, as they were when each
list was made."""

from __future__ import annotations

import subprocess

import orjson
import pytest

from tests.support import BIN, Tail, now_ms, send

pytestmark = pytest.mark.integration

# Item → (category, brand).
PRODUCTS = {
    "i0": ("shoes", "acme"),
    "i1": ("shoes", "acme"),
    "i2": ("shoes", "zed"),
    "i3": ("shoes", "zed"),
    "i4": ("hats", "zed"),
    "i5": ("hats", "zed"),
}


def report(deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "report", "exposure", *args],
        check=False,
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_report_reads_back_what_the_lists_showed_to_whom(deployment, producer, tmp_path):
    deployment.worker().start()
    inventory, clicks = deployment.topic("inventory"), deployment.topic("clicks")
    since = now_ms()
    for item, (category, brand) in PRODUCTS.items():
        event = {"event_id": f"inv-{item}", "item_id": item, "stock": 3, "ts": since}
        await send(producer, inventory, item, {**event, "category": category, "brand": brand})
    # "old" comes back (its second list is a returning user's); "fresh" clicks once.
    touches = [("old", "i0"), ("fresh", "i2"), ("old", "i1")]
    async with Tail(deployment.topic("recommendations")) as recs:
        for n, (user, item) in enumerate(touches):
            event = {"event_id": f"t{n}", "user_id": user, "item_id": item, "ts": now_ms()}
            await send(producer, clicks, user, {**event, "category": PRODUCTS[item][0]})
            await recs.until(lambda rs, n=n: any(r["trigger"]["event_id"] == f"t{n}" for r in rs))
        lists = [r for r in recs.records if r["generated_at"] >= since]

    done = report(deployment, "--since", str(since), "--json", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    figures = orjson.loads(done.stdout)["tenants"]["default"]
    every = figures["all"]
    shown = [i["item_id"] for r in lists for i in r["items"]]
    assert (every["lists"], every["exposures"]) == (len(lists), len(shown))
    assert every["catalogue_items"] == len(PRODUCTS)
    assert every["coverage"] == round(len(set(shown)) / len(PRODUCTS), 4)
    by_trigger = {r["trigger"]["event_id"]: r for r in lists}
    assert figures["returning-users"]["lists"] == 1, "only old's second list"
    assert figures["new-users"]["lists"] == len(lists) - 1
    # New items: nobody had touched them when their list was made (t0 touched i0, and so on).
    touched_before = {"t0": {"i0"}, "t1": {"i0", "i2"}, "t2": {"i0", "i1", "i2"}}
    new = sum(
        i["item_id"] not in touched_before[trigger]
        for trigger, r in by_trigger.items()
        for i in r["items"]
    )
    assert every["new_item_share"] == round(new / len(shown), 4)
    catalogue = {g["group"]: g["catalogue_share"] for g in every["category"]["groups"]}
    assert all(catalogue[c] == {"shoes": 0.6667, "hats": 0.3333}[c] for c in catalogue)
    brands = {g["group"]: g["interaction_share"] for g in every["brand"]["groups"]}
    assert brands.get("acme") == round(2 / 3, 4)  # i0 and i1 of the three touches
    out = tmp_path / "out"
    assert (out / "lorenz.png").stat().st_size > 0
    assert "| default / returning-users | 1 |" in (out / "exposure.md").read_text()

    later = report(deployment, "--since", str(now_ms() + 60_000), "--json")
    assert orjson.loads(later.stdout)["tenants"] == {}, "no list in the window"
    for bad in (["--since", "yesterday-ish"], ["--since", "2h", "--until", "3h"]):
        refused = report(deployment, *bad)
        assert refused.returncode == 2 and refused.stderr.strip(), bad
