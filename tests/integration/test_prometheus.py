"""Alert rules, scrape configuration and dashboard checked by Prometheus's own tools, and
Debian's Prometheus scraping a running worker and lag exporter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import REGISTRY

import streamapp.ops.metrics  # noqa: F401  (registers every streamapp metric)
from tests.support import ROOT, free_port, now_ms, send_clicks, start_lag_exporter, wait_for

pytestmark = pytest.mark.integration

PROMETHEUS = ROOT / "deploy/prometheus"
DASHBOARD = ROOT / "deploy/grafana/dashboards/streamapp.json"
METRIC = re.compile(r"\b(streamapp[:_][A-Za-z0-9_:]*)")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: deploy/deps.sh installs Debian's prometheus"
    done = subprocess.run([tool, *args], check=False, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def exported_names() -> set[str]:
    """Every series name our processes can export, and the recording rules' names."""
    names = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names


def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    assert "SUCCESS: 16 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
    promtool("check", "config", "prometheus.yml")


def test_alerts_cover_the_runbook_and_use_only_real_series():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == {
        "StreamappConsumerLagGrowing",
        "StreamappLagOverFreshnessObjective",
        "StreamappDeadLetterRateHigh",
        "StreamappFreshnessBudgetBurn",
        "StreamappNoRecommendationsPublished",
        "StreamappDriftDetected",
        "StreamappModelRolledBack",
        "StreamappSnapshotStale",
        "StreamappWorkerDown",
        "StreamappBatchStalled",
    }
    tested = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tested["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert fired == set(alerts), "every alert has a test where it fires"
    known = exported_names()
    for name, rule in alerts.items():
        assert set(METRIC.findall(rule["expr"])) <= known, name


def test_dashboard_is_well_formed_and_its_queries_parse(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    panels = board["panels"]
    assert board["uid"] and board["title"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":  # a heading, repeated per running experiment
            continue
        assert panel["datasource"]["uid"] == source
        assert panel["targets"], panel["title"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    known = exported_names()
    for expr in exprs:
        assert set(METRIC.findall(expr)) <= known, expr
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("events", "freshness", "invalidations", "lag", "dead letters", "model version"):
        assert topic in titles
    # Prometheus's own parser checks every query: as recording rules in a scratch file.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{n}", "expr": e} for n, e in enumerate(exprs)],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(exprs)} rules found" in promtool(
        "check", "rules", "dashboard.yml", cwd=tmp_path
    )


def start_prometheus(config: dict, port: int, folder: Path) -> subprocess.Popen[bytes]:
    """Debian's Prometheus on loopback with ``config``, its data and log in ``folder``."""
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(folder / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        return orjson.loads(response.read())["data"]["result"]


def total(port: int, expr: str) -> float | None:
    try:
        result = query(port, expr)
    except OSError:
        return None
    return sum(float(r["value"][1]) for r in result) if result else None


async def test_prometheus_sees_lag_and_freshness_move(deployment, producer, tmp_path):
    worker = deployment.worker(STREAMAPP_LAG_INTERVAL_S="0.5").start()
    clicks = deployment.topic("clicks")
    group = f"{deployment.settings.app_id}-paused"
    # A paused consumer group: committed at the start of every partition, then idle.
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092", group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(clicks, p) for p in range(6)])
        await consumer.commit(
            {TopicPartition(clicks, p): OffsetAndMetadata(0, "") for p in range(6)}
        )
    finally:
        await consumer.stop()
    exporter_port, prom_port = free_port(), free_port()
    exporter = start_lag_exporter(group, exporter_port, deployment.env)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "streamapp-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
            },
            {
                "job_name": "streamapp-lag-exporter",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            },
        ],
    }
    server = start_prometheus(config, prom_port, tmp_path)
    try:
        lag = f'sum(streamapp_consumer_lag_messages{{group="{group}"}})'
        fresh = "sum(streamapp_event_to_publish_seconds_count)"

        await send_clicks(producer, clicks, 0, 20, users=7, items=5, t=now_ms())
        await wait_for(lambda: total(prom_port, lag) == 20, timeout=60, what="lag 20 scraped")
        before = await wait_for(lambda: total(prom_port, fresh), timeout=30, what="freshness")
        await send_clicks(producer, clicks, 20, 30, users=7, items=5, t=now_ms())
        await wait_for(lambda: total(prom_port, lag) == 50, timeout=30, what="lag to 50")
        # One list per user per batch: 30 clicks of 7 users publish between 7 and 30 lists,
        # however the worker happens to batch them.
        await wait_for(
            lambda: (total(prom_port, fresh) or 0) >= before + 7,
            timeout=30,
            what="freshness count up by a list per user",
        )
        seconds = total(prom_port, f'max(streamapp_consumer_lag_seconds{{group="{group}"}})')
        assert seconds is not None and seconds > 0
        up = query(prom_port, 'up{job="streamapp-worker"}')
        assert up and up[0]["value"][1] == "1"
    finally:
        server.terminate()
        exporter.terminate()
        server.wait(10)
        exporter.wait(10)
