"""Experiments on the real stack: `streamapp experiment` writes them to their topic, the worker
deals users to variants by the same hash the API and a test compute, every list says which,
and a stopped experiment lets its users go within seconds."""

from __future__ import annotations

import subprocess
from collections import Counter

import orjson
import pytest
import yaml

from streamapp.experiments.assignment import assign, labels
from streamapp.experiments.definition import parse
from streamapp.ops.topics import TopicAdmin, load_specs
from tests.support import Tail, command, now_ms, send, wait_for

pytestmark = pytest.mark.integration

DEFINITION = {
    "experiment_id": "ranker-vs-hand",
    "tenant": "default",
    "layer": "ranking",
    "variants": [
        {"name": "control", "share": 0.5},
        {"name": "hand", "share": 0.5, "treatment": {"learned_ranker": False, "exploration": 0}},
    ],
    "primary_metric": "conversion",
    "secondary_metrics": ["click_through"],
    "plan": {"baseline": 0.05, "minimum_detectable_effect": 0.1},
}
USERS = [f"x{n}" for n in range(30)]


def cli(deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return command(deployment, "experiment", *args)


def create_and_start(deployment, tmp_path) -> None:
    """The experiment created and started; a second of the same id, and an overlapping one,
    refused."""
    definition = tmp_path / "experiment.yaml"
    definition.write_text(yaml.safe_dump(DEFINITION))
    created = cli(deployment, "create", "--file", str(definition))
    assert created.returncode == 0, created.stderr
    assert "planned_users=" in created.stdout
    again = cli(deployment, "create", "--file", str(definition))
    assert again.returncode == 2 and "exists" in again.stderr
    started = cli(deployment, "start", "ranker-vs-hand")
    assert started.returncode == 0, started.stderr
    clash = {**DEFINITION, "experiment_id": "overlapping"}
    definition.write_text(yaml.safe_dump(clash))
    assert cli(deployment, "create", "--file", str(definition)).returncode == 0
    refused = cli(deployment, "start", "overlapping")
    assert refused.returncode == 2 and "share users" in refused.stderr


async def assert_report_joins_clicks_with_lists(deployment, producer, recs, lists, expected, out):
    """Users of one variant click the top item of their list: the report joins the clicks with
    the lists and counts each variant's users as the lists did."""
    clicked = [r for r in lists if r["variant"] == "hand" and r["items"]]
    for n, record in enumerate(clicked):
        user, item = record["user_id"], record["items"][0]["item_id"]
        event = {"event_id": f"back{n}", "user_id": user, "item_id": item, "ts": now_ms()}
        await send(producer, deployment.topic("clicks"), user, event)
    await recs.until(
        lambda rs: sum(r["trigger"]["event_id"].startswith("back") for r in rs) >= len(clicked)
    )
    reported = cli(deployment, "report", "ranker-vs-hand", "--json", "--out", str(out))
    assert reported.returncode == 0, reported.stderr
    body = orjson.loads(reported.stdout)
    users = {v["name"]: v["users"] for v in body["variants"]}
    assert users == dict(Counter(variant for _, variant in expected.values()))
    ctr = {
        m["variant"]: (m["value"], m["control"])
        for m in body["metrics"]
        if m["name"] == "click_through"
    }
    assert ctr["hand"][0] > 0 and ctr["hand"][1] == 0
    assert body["decision"] in {"continue", "ship", "stop", "no_difference"}
    assert (out / "lift.png").exists() and (out / "report.md").exists()


async def test_lists_carry_the_variant_every_reader_computes_until_the_experiment_stops(
    deployment, producer, tmp_path
):
    create_and_start(deployment, tmp_path)
    experiment = parse({**DEFINITION, "status": "running", "ts": 0})
    expected = {u: labels(assign([experiment], "default", u), "control") for u in USERS}
    assert {variant for _, variant in expected.values()} == {"control", "hand"}

    worker = deployment.worker().start()
    clicks = deployment.topic("clicks")
    t = now_ms()
    async with Tail(deployment.topic("recommendations")) as recs:
        for n, user in enumerate(USERS):
            event = {"event_id": f"e{n}", "user_id": user, "item_id": f"i{n % 7}", "ts": t + n}
            await send(producer, clicks, user, event)
        lists = await recs.until(lambda rs: {r["user_id"] for r in rs} >= set(USERS))
        for record in lists:
            assert (record["experiment"], record["variant"]) == expected[record["user_id"]]
        served = worker.get(f"/v1/users/{USERS[0]}/recommendations")
        assert (served["experiment"], served["variant"]) == expected[USERS[0]]
        newcomer = worker.get("/v1/users/nobody-yet/recommendations")
        assert (newcomer["experiment"], newcomer["variant"]) == labels(
            assign([experiment], "default", "nobody-yet"), "control"
        )

        await assert_report_joins_clicks_with_lists(
            deployment, producer, recs, lists, expected, tmp_path / "report"
        )
        assert cli(deployment, "stop", "ranker-vs-hand").returncode == 0
        assert cli(deployment, "start", "ranker-vs-hand").returncode == 2
        listed = cli(deployment, "list")
        assert "ranker-vs-hand  stopped" in listed.stdout
        assert "overlapping  draft" in listed.stdout

        # The worker follows the topic: a click after the stop gets a list outside it.
        sent = 0

        async def released() -> bool:
            nonlocal sent
            sent += 1
            event_id = f"after{sent}"
            event = {"event_id": event_id, "user_id": USERS[1], "item_id": "i1", "ts": now_ms()}
            await send(producer, clicks, USERS[1], event)
            found = await recs.until(
                lambda rs: any(r["trigger"]["event_id"] == event_id for r in rs)
            )
            (mine,) = [r for r in found if r["trigger"]["event_id"] == event_id]
            return (mine["experiment"], mine["variant"]) == ("", "control")

        await wait_for(released, timeout=30, what="a list outside the stopped experiment")


async def test_a_record_that_is_not_an_experiment_is_left_out_and_the_worker_keeps_working(
    deployment, producer
):
    topic = deployment.topic("experiments")
    await producer.send_and_wait(topic, b"{not json", key=b"broken")
    await producer.send_and_wait(
        topic, orjson.dumps({**DEFINITION, "status": "running"}), key=b"ranker-vs-hand"
    )
    worker = deployment.worker().start()
    async with Tail(deployment.topic("recommendations")) as recs:
        event = {"event_id": "e1", "user_id": "u1", "item_id": "i1", "ts": now_ms()}
        await send(producer, deployment.topic("clicks"), "u1", event)
        (record,) = await recs.until(lambda rs: len(rs) >= 1)
    # The record lacks its ts: not an experiment, so no one is in it.
    assert (record["experiment"], record["variant"]) == ("", "control")
    assert "experiment record left out" in worker.log.read_text()


async def test_a_worker_started_before_the_experiments_topic_exists_takes_it_up_later(
    deployment, producer
):
    """A deployment upgraded without `topics apply`: the worker serves without experiments,
    and once the topic is created and an experiment started there, its users are dealt."""
    topic = deployment.topic("experiments")
    async with TopicAdmin(deployment.settings) as admin:
        await admin.admin.delete_topics([topic])

        async def gone() -> bool:
            return topic not in await admin.admin.list_topics()

        await wait_for(gone, what="the topic deleted")
    worker = deployment.worker().start()
    assert cli(deployment, "list").returncode == 2  # the command needs the topic
    clicks = deployment.topic("clicks")
    async with Tail(deployment.topic("recommendations")) as recs:
        await send(
            producer,
            clicks,
            "u1",
            {"event_id": "a", "user_id": "u1", "item_id": "i", "ts": now_ms()},
        )
        (before,) = await recs.until(lambda rs: len(rs) >= 1)
        assert (before["experiment"], before["variant"]) == ("", "control")
        async with TopicAdmin(deployment.settings) as admin:
            await admin.apply(load_specs(deployment.settings))
        document = {**DEFINITION, "status": "running", "ts": now_ms()}
        await producer.send_and_wait(topic, orjson.dumps(document), key=b"ranker-vs-hand")
        expected = labels(assign([parse(document)], "default", "u1"), "control")
        sent = 0

        async def dealt() -> bool:
            nonlocal sent
            sent += 1
            event = {"event_id": f"b{sent}", "user_id": "u1", "item_id": "i", "ts": now_ms()}
            await send(producer, clicks, "u1", event)
            found = await recs.until(
                lambda rs: any(r["trigger"]["event_id"] == f"b{sent}" for r in rs)
            )
            mine = next(r for r in found if r["trigger"]["event_id"] == f"b{sent}")
            return (mine["experiment"], mine["variant"]) == expected

        await wait_for(dealt, timeout=30, what="the experiment taken up")
    assert "no topic" in worker.log.read_text()
