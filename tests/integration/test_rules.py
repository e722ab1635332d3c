"""Merchandising rules on the real stack: `streamapp rules` writes them to their topic, and the
worker applies them to current and new lists and the HTTP API to what it serves. A block takes
its items out of every current list the way a stock-out does and holds through restocks and
new arrivals; pins, boosts and buries shape new lists and name themselves in them; a rule
starts and ends on its own."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from streamapp.contracts.schemas import contract
from tests.support import Tail, command, now_ms, send, wait_for

pytestmark = pytest.mark.integration

PATH = "/v1/users/{}/recommendations"
PRODUCTS = {
    "a": ("shoes", "zeta"),
    "b": ("shoes", "zeta"),
    "e": ("shoes", "zeta"),
    "hot": ("tv", "acme"),
    "x": ("phone", "acme"),
}


def rules_cli(deployment: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return command(deployment, "rules", *args)


def add(deployment: Any, *args: str) -> None:
    done = rules_cli(deployment, "add", *args, "--reason", "test")
    assert done.returncode == 0, done.stderr


def items_of(record: dict[str, Any]) -> list[str]:
    return [i["item_id"] for i in record["items"]]


class Shop:
    """A shop's products and shoppers, sent through the real topics."""

    def __init__(self, deployment: Any, producer: Any) -> None:
        self.deployment, self.producer = deployment, producer
        self.t = now_ms() - 60_000
        self.seq = 0

    async def stock(self, item: str, stock: int, category: str, brand: str) -> None:
        self.seq += 1
        event = {
            "event_id": f"inv-{item}-{self.seq}",
            "item_id": item,
            "stock": stock,
            "ts": self.t + self.seq,
            "category": category,
            "brand": brand,
        }
        await send(self.producer, self.deployment.topic("inventory"), item, event)

    async def click(self, user: str, item: str) -> str:
        self.seq += 1
        event_id = f"c{self.seq}"
        event = {"event_id": event_id, "user_id": user, "item_id": item, "ts": self.t + self.seq}
        await send(self.producer, self.deployment.topic("clicks"), user, event)
        return event_id

    async def open(self) -> None:
        """Every product in stock; fans view "a" with "hot" and "b", fewer with "e"."""
        for item, (category, brand) in PRODUCTS.items():
            await self.stock(item, 5, category, brand)
        for n in range(4):
            await self.click(f"fan{n}", "a")
            await self.click(f"fan{n}", "hot")
            await self.click(f"fan{n}", "b")
        await self.click("fan0", "a")
        await self.click("fan0", "e")


async def list_after(recs: Tail, event_id: str) -> dict[str, Any]:
    found = await recs.until(lambda rs: any(r["trigger"]["event_id"] == event_id for r in rs))
    return next(r for r in found if r["trigger"]["event_id"] == event_id)


async def test_a_block_leaves_every_list_at_once_and_holds_through_restocks(deployment, producer):
    worker = deployment.worker().start()
    shop = Shop(deployment, producer)
    await shop.open()
    oos = deployment.key("default:oos")
    async with Tail(deployment.topic("recommendations")) as recs:
        first = await list_after(recs, await shop.click("u1", "a"))
        assert "hot" in items_of(first)

        before = len(recs.records)
        add(deployment, "block", "--id", "recall", "--item", "hot")
        corrected = await recs.until(
            lambda rs: any(
                r["user_id"] == "u1" and r["trigger"]["reason"] == "rule" for r in rs[before:]
            )
        )
        rule_lists = [r for r in corrected[before:] if r["trigger"]["reason"] == "rule"]
        assert all("hot" not in items_of(r) for r in rule_lists)
        assert all(contract("recommendation").is_valid(r) for r in rule_lists)
        assert "hot" not in items_of(worker.get(PATH.format("u1")))

        # A restock does not bring it back; nor does the user's next list.
        await shop.stock("hot", 10, "tv", "acme")
        await wait_for(
            lambda: deployment.redis.hget(deployment.key("default:item:hot"), "stock") == b"10",
            what="the restock applied",
        )
        assert deployment.redis.sismember(oos, "hot")
        assert "hot" not in items_of(await list_after(recs, await shop.click("u1", "a")))

        # A brand: its items out, and one that arrives later stays out.
        add(deployment, "block", "--id", "no-acme", "--brand", "acme")
        await wait_for(lambda: deployment.redis.sismember(oos, "x"), what="x blocked")
        await shop.stock("x2", 3, "phone", "acme")
        await wait_for(lambda: deployment.redis.exists(deployment.key("default:item:x2")))
        assert deployment.redis.sismember(oos, "x2")

        # Removing one block leaves what another still covers out; removing both lets it back.
        assert rules_cli(deployment, "remove", "recall", "--reason", "fixed").returncode == 0
        await wait_for(
            lambda: not deployment.redis.hexists(deployment.key("default:rules"), "recall"),
            what="recall ended",
        )
        assert deployment.redis.sismember(oos, "hot"), "still a brand acme item"
        assert rules_cli(deployment, "remove", "no-acme", "--reason", "over").returncode == 0
        await wait_for(lambda: not deployment.redis.sismember(oos, "hot"), what="hot back")
        assert not deployment.redis.sismember(oos, "x2")
        assert "hot" in items_of(await list_after(recs, await shop.click("u1", "a")))
    listed = rules_cli(deployment, "list")
    assert listed.returncode == 0 and listed.stdout == ""


async def test_pins_boosts_and_buries_shape_new_lists_and_name_themselves(deployment, producer):
    worker = deployment.worker().start()
    shop = Shop(deployment, producer)
    await shop.open()
    add(deployment, "pin", "--id", "hero", "--item", "x", "--position", "1")
    add(deployment, "bury", "--id", "less-tv", "--category", "tv", "--factor", "0.001")
    add(deployment, "boost", "--id", "more-e", "--item", "e", "--factor", "1000")
    listed = rules_cli(deployment, "list", "--tenant", "default")
    assert "hero  in force  tenant=default pin item_id:x at 1" in listed.stdout
    refused = rules_cli(
        deployment,
        "add",
        "bury",
        "--id",
        "bad",
        "--brand",
        "acme",
        "--factor",
        "2",
        "--reason",
        "r",
    )
    assert refused.returncode == 2 and "below 1" in refused.stderr
    again = rules_cli(deployment, "add", "block", "--id", "hero", "--item", "a", "--reason", "r")
    assert again.returncode == 2 and "exists" in again.stderr

    async with Tail(deployment.topic("recommendations")) as recs:

        async def shaped() -> dict[str, Any] | None:
            made = await list_after(recs, await shop.click("u1", "a"))
            return made if made["items"] and made["items"][0]["item_id"] == "x" else None

        made = await wait_for(shaped, what="a list with the pin")
    assert contract("recommendation").is_valid(made)
    tagged = {i["item_id"]: i.get("rules") for i in made["items"]}
    assert tagged["x"] == ["hero"] and tagged["e"] == ["more-e"]
    assert made["items"][1]["item_id"] == "e", "boosted above every other candidate"
    order = items_of(made)
    assert "hot" not in order or (tagged["hot"] == ["less-tv"] and order.index("hot") > 2)

    # The API: the user's own list as made; a newcomer gets the fallback list with the pin.
    assert items_of(worker.get(PATH.format("u1")))[:2] == ["x", "e"]
    newcomer = worker.get(PATH.format("nobody-yet"))
    assert newcomer["items"][0] == {**newcomer["items"][0], "item_id": "x", "rules": ["hero"]}


async def test_rules_start_and_end_on_their_own(deployment, producer):
    deployment.worker().start()
    shop = Shop(deployment, producer)
    await shop.open()
    oos = deployment.key("default:oos")
    async with Tail(deployment.topic("recommendations")) as recs:
        shown = await list_after(recs, await shop.click("u1", "a"))
        assert "e" in items_of(shown) and items_of(shown)[0] != "e" and "b" in items_of(shown)
        start = now_ms() + 4_000
        before = len(recs.records)
        add(
            deployment,
            "pin",
            "--id",
            "soon",
            "--item",
            "e",
            "--position",
            "1",
            "--starts-at",
            str(start),
            "--ends-at",
            str(start + 4_000),
        )
        add(
            deployment,
            "block",
            "--id",
            "later",
            "--item",
            "b",
            "--starts-at",
            str(start),
            "--ends-at",
            str(start + 4_000),
        )
        assert not deployment.redis.sismember(oos, "b")

        def by_rule(rs: list[Any]) -> list[dict[str, Any]]:
            return [
                r for r in rs[before:] if r["user_id"] == "u1" and r["trigger"]["reason"] == "rule"
            ]

        # At the start: u1's list, which shows both, is made again with the pin and the block.
        started = await recs.until(
            lambda rs: any(items_of(r)[:1] == ["e"] for r in by_rule(rs)), timeout=20
        )
        assert now_ms() >= start
        pinned = next(r for r in by_rule(started) if items_of(r)[:1] == ["e"])
        assert pinned["items"][0]["rules"] == ["soon"]
        assert all(
            "b" not in items_of(r)
            for r in by_rule(started)
            if r is not pinned and r["generated_at"] >= pinned["generated_at"]
        )
        assert deployment.redis.sismember(oos, "b")

        # At the end: lists that show the pinned item are made again without it; "b" is back.
        ended = await recs.until(
            lambda rs: any("e" in items_of(r) and items_of(r)[0] != "e" for r in by_rule(rs)),
            timeout=20,
        )
        assert now_ms() >= start + 4_000
        last = [r for r in by_rule(ended) if "e" in items_of(r)][-1]
        assert all("rules" not in i for i in last["items"])
        await wait_for(lambda: not deployment.redis.sismember(oos, "b"), what="b back")
        assert "b" in items_of(await list_after(recs, await shop.click("u1", "a")))


async def test_a_sensitive_category_shows_only_once_a_second_person_approves(deployment, producer):
    sensitive = {"STREAMAPP_SENSITIVE_CATEGORIES": '["alcohol"]'}
    deployment.worker(**sensitive).start()
    shop = Shop(deployment, producer)
    await shop.stock("a", 5, "shoes", "zeta")
    await shop.stock("wine", 5, "alcohol", "vino")
    flagged = {
        "event_id": "inv-pills",
        "item_id": "pills",
        "stock": 5,
        "ts": shop.t,
        "category": "shoes",
        "brand": "zeta",
        "sensitive": True,
    }
    await send(producer, deployment.topic("inventory"), "pills", flagged)
    # An item is judged sensitive from its product record: wait until the worker has both.
    oos = deployment.key("default:oos")
    await wait_for(lambda: deployment.redis.smismember(oos, ["wine", "pills"]) == [1, 1])
    for n in range(4):
        for item in ("a", "wine", "pills"):
            await shop.click(f"fan{n}", item)

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return command(deployment, "rules", *args, **sensitive)

    async with Tail(deployment.topic("recommendations")) as recs:
        held = await list_after(recs, await shop.click("u1", "a"))
        assert not {"wine", "pills"} & set(items_of(held)), "sensitive items never shown"

        refused = rules(
            "add", "allow", "--id", "allow-wine", "--category", "alcohol", "--reason", "licensed"
        )
        assert refused.returncode == 2 and "approval" in refused.stderr
        boost = rules(
            "add",
            "boost",
            "--id",
            "more-wine",
            "--category",
            "alcohol",
            "--factor",
            "2",
            "--reason",
            "promo",
        )
        assert boost.returncode == 2 and "approval" in boost.stderr

        proposed = rules(
            "propose",
            "allow",
            "--id",
            "allow-wine",
            "--category",
            "alcohol",
            "--reason",
            "licensed from today",
            "--author",
            "ana",
        )
        assert proposed.returncode == 0, proposed.stderr
        assert "allow-wine  proposed" in rules("list").stdout
        pending = await list_after(recs, await shop.click("u1", "a"))
        assert "wine" not in items_of(pending), "a proposal has no effect"

        own = rules("approve", "allow-wine", "--reason", "mine", "--author", "ana")
        assert own.returncode == 2 and "someone else" in own.stderr
        approved = rules("approve", "allow-wine", "--reason", "licence seen", "--author", "ben")
        assert approved.returncode == 0, approved.stderr
        assert "approved by ben" in rules("list").stdout
        await wait_for(lambda: not deployment.redis.sismember(oos, "wine"), what="wine allowed")
        shown = await list_after(recs, await shop.click("u1", "a"))
        assert "wine" in items_of(shown) and "pills" not in items_of(shown)

        assert (
            rules(
                "propose",
                "allow",
                "--id",
                "allow-pills",
                "--item",
                "pills",
                "--reason",
                "asked",
                "--author",
                "ana",
            ).returncode
            == 0
        )
        assert (
            rules("reject", "allow-pills", "--reason", "no licence", "--author", "ben").returncode
            == 0
        )
        assert (
            rules("approve", "allow-pills", "--reason", "late", "--author", "cy").returncode == 2
        ), "a rejected rule stays rejected"

        before = len(recs.records)
        removed = rules("remove", "allow-wine", "--reason", "licence lapsed", "--author", "ben")
        assert removed.returncode == 0, removed.stderr
        corrected = await recs.until(
            lambda rs: any(
                r["user_id"] == "u1" and r["trigger"]["reason"] == "rule" for r in rs[before:]
            )
        )
        assert all(
            "wine" not in items_of(r)
            for r in corrected[before:]
            if r["trigger"]["reason"] == "rule"
        )
    assert deployment.redis.sismember(oos, "pills")

    history = rules("history", "--tenant", "default").stdout.splitlines()
    events = [line.split("  ")[1:3] for line in history]
    assert events == [
        ["allow-wine", "proposed"],
        ["allow-wine", "approved"],
        ["allow-pills", "proposed"],
        ["allow-pills", "rejected"],
        ["allow-wine", "removed"],
    ]
    assert "removed  by ben  tenant=default: licence lapsed" in history[-1]
