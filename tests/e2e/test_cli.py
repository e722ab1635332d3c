"""End to end, as a user would: kcat produces and consumes; the installed CLI replays, reads lag."""

from __future__ import annotations

import subprocess
import time

import jsonschema
import orjson
import pytest

from streamapp.contracts.schemas import load
from streamapp.http import openapi
from streamapp.settings import Settings
from tests.support import BIN, wait_for

pytestmark = pytest.mark.integration


def kcat(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["kcat", "-b", "127.0.0.1:9092", *args],
        input=stdin,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout


async def test_kcat_producer_gets_a_valid_recommendation_from_the_worker(deployment):
    deployment.worker().start()
    now = int(time.time() * 1000)
    for n, item in enumerate(["p1", "p2", "p3"]):
        event = {
            "event_id": f"k{n}",
            "user_id": "shopper",
            "item_id": item,
            "ts": now + n,
            "category": "c",
        }
        # murmur2 is the Java client's partitioner: producers must share it so that a
        # user's clicks and carts land on partitions of the same number.
        kcat(
            "-P",
            "-t",
            deployment.topic("clicks"),
            "-k",
            "shopper",
            "-X",
            "topic.partitioner=murmur2_random",
            stdin=orjson.dumps(event),
        )

    def consumed() -> list[dict]:
        out = kcat(
            "-C", "-t", deployment.topic("recommendations"), "-o", "beginning", "-e", "-f", "%s\n"
        )
        return [orjson.loads(line) for line in out.splitlines() if line]

    lists = await wait_for(
        lambda: [r for r in consumed() if r["trigger"]["event_id"] == "k2"],
        what="a list for the last kcat event",
    )
    for record in consumed():
        jsonschema.validate(record, load("recommendation"))
    assert lists[-1]["user_id"] == "shopper"
    sources = {i["item_id"]: i["source"] for i in lists[-1]["items"]}
    assert {sources["p1"], sources["p2"]} <= {"recent", "covisit"}


async def test_replay_of_a_csv_log_reaches_the_worker_and_lag_drains(deployment, tmp_path):
    worker = deployment.worker().start()
    now_s = int(time.time())
    rows = ["user_id,item_id,event_type,ts"] + [
        f"u{n % 4},i{n % 7},{['view', 'cart', 'purchase', 'pv'][n % 4]},{now_s - 100 + n}"
        for n in range(40)
    ]
    log = tmp_path / "events.csv"
    log.write_text("\n".join(rows) + "\n")
    out = subprocess.run(
        [str(BIN), "replay", "--dataset", "csv", "--path", str(log), "--initial-stock", "2"],
        env=deployment.env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    counts = orjson.loads(out.stdout.splitlines()[-1])
    assert counts["clicks"] + counts["carts"] == 40
    assert counts["inventory"] >= 7

    def drained() -> bool:
        rows = orjson.loads(
            subprocess.run(
                [str(BIN), "lag", "--json"],
                env=deployment.env,
                check=True,
                capture_output=True,
            ).stdout
        )
        inputs = {deployment.topic(t) for t in ("clicks", "carts", "inventory")}
        mine = [r for r in rows if r["topic"] in inputs]
        return sum(r["committed"] for r in mine) >= 40 + counts["inventory"] and all(
            r["lag"] == 0 for r in mine
        )

    await wait_for(drained, timeout=60, what="lag to drain")
    served = worker.get("/v1/users/u1/recommendations")
    assert served["items"]
    jsonschema.validate(served, openapi.document()["components"]["schemas"]["UserRecommendations"])


SECRET = "hunter2-not-for-logs"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        pytest.param(
            ["model", "list"],
            {"STREAMAPP_REDIS_URL": f"redis://app:{SECRET}@127.0.0.1:1/0"},
            "Redis does not answer at redis://app:***@127.0.0.1:1/0",
            id="redis-unreachable",
        ),
        pytest.param(
            ["worker"],
            {"STREAMAPP_REDIS_URL": f"redis://:{SECRET}@127.0.0.1:1/0"},
            "Redis does not answer at redis://:***@127.0.0.1:1/0",
            id="worker-redis-unreachable",
        ),
        pytest.param(
            ["lag"],
            {"STREAMAPP_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
            "Kafka does not answer at 127.0.0.1:1",
            id="kafka-unreachable",
        ),
        pytest.param(
            ["learner"],
            {"STREAMAPP_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
            "Kafka does not answer at 127.0.0.1:1",
            id="learner-kafka-unreachable",
        ),
        pytest.param(
            ["replay", "--dataset", "csv", "--path", "/no/such/events.csv"],
            {},
            "no such event log: /no/such/events.csv",
            id="missing-file",
        ),
        pytest.param(
            ["evaluate", "--dataset", "rees46"],
            {"STREAMAPP_DATASETS_DIR": "/no/datasets"},
            "the rees46 event log is not at /no/datasets/rees46-oct2019-slice/2019-Oct.csv",
            id="missing-dataset",
        ),
        pytest.param(
            ["replay", "--dataset", "csv"],
            {},
            "format 'csv' has no named log: give the file with --path",
            id="csv-without-path",
        ),
        pytest.param(
            ["watch"],
            {"STREAMAPP_TOP_K": "abc"},
            "bad setting: STREAMAPP_TOP_K='abc': Input should be a valid integer",
            id="bad-setting",
        ),
        pytest.param(
            ["settings"],
            {"STREAMAPP_WEIGHTS": "{click: 1}"},
            "bad setting: STREAMAPP_WEIGHTS is not valid JSON",
            id="bad-json-setting",
        ),
        pytest.param(
            ["model", "promote"],
            {},
            "the following arguments are required: version",
            id="missing-argument",
        ),
        pytest.param(
            ["settings"],
            {"STREAMAPP_TENANT_SETTINGS_FILE": "/nowhere/tenants.yaml"},
            "bad setting: STREAMAPP_TENANT_SETTINGS_FILE /nowhere/tenants.yaml: cannot be read",
            id="bad-tenant-settings-file",
        ),
    ],
)
def test_cli_error_a_user_can_fix_is_one_line_with_exit_code_2(args, env, says, stack, tmp_path):
    # With the stack up, each case fails on the one thing it breaks (a worker checks Kafka
    # before Redis); a missing file is reported before any service is asked.
    out = subprocess.run(
        [str(BIN), *args],
        env={"PATH": "/usr/bin:/bin", "STREAMAPP_DATADIR": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2, out
    assert says in out.stderr
    assert "Traceback" not in out.stderr
    assert SECRET not in out.stderr + out.stdout
    # One line, or argparse's usage line and its error.
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[0].startswith("usage:")), out.stderr


def test_settings_lists_every_setting_without_passwords():
    out = subprocess.run(
        [str(BIN), "settings"],
        env={"PATH": "/usr/bin:/bin", "STREAMAPP_REDIS_URL": f"rediss://app:{SECRET}@r:6380/1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert SECRET not in out.stdout
    assert "STREAMAPP_REDIS_URL=rediss://app:***@r:6380/1" in out.stdout.splitlines()
    assert len(out.stdout.splitlines()) == len(Settings.model_fields)
