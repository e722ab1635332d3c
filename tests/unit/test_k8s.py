"""deploy/k8s cannot be applied here (no cluster): check it statically against the code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streamapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
DOCS = {name: yaml.safe_load((K8S / name).read_text()) for name in KUSTOMIZATION["resources"]}
BY_KIND_NAME = {(d["kind"], d["metadata"]["name"]): d for d in DOCS.values()}
DEPLOYMENTS = {n: d for (k, n), d in BY_KIND_NAME.items() if k == "Deployment"}
CONFIG = BY_KIND_NAME[("ConfigMap", "streamapp")]["data"]


def container(name: str) -> dict:
    (only,) = DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"]
    return only


def test_kustomization_lists_every_manifest():
    assert set(KUSTOMIZATION["resources"]) == {p.name for p in K8S.glob("*.yaml")} - {
        "kustomization.yaml"
    }
    assert set(DEPLOYMENTS) == {
        "streamapp-worker",
        "streamapp-learner",
        "streamapp-lag-exporter",
    }


def test_config_names_real_settings():
    fields = {f"STREAMAPP_{name.upper()}" for name in Settings.model_fields}
    assert set(CONFIG) <= fields
    Settings(**{k.removeprefix("STREAMAPP_").lower(): v for k, v in CONFIG.items()})


@pytest.mark.parametrize(
    "name", ["streamapp-worker", "streamapp-learner", "streamapp-lag-exporter"]
)
def test_deployments_select_their_pods_and_are_scraped_on_their_port(name):
    spec = DEPLOYMENTS[name]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    annotations = spec["template"]["metadata"]["annotations"]
    ports = {p["containerPort"] for p in container(name)["ports"]}
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) in ports
    assert annotations["prometheus.io/path"] == "/metrics"
    assert {"configMapRef": {"name": "streamapp"}} in container(name)["envFrom"]
    assert container(name)["args"][0] in {"worker", "learner", "lag-exporter"}


def test_ports_and_probes_match_the_processes():
    assert {p["containerPort"] for p in container("streamapp-worker")["ports"]} == {
        int(CONFIG["STREAMAPP_WEB_PORT"])
    }
    assert {p["containerPort"] for p in container("streamapp-learner")["ports"]} == {
        int(CONFIG["STREAMAPP_LEARNER_WEB_PORT"])
    }
    web = (ROOT / "streamapp/http/operations.py").read_text()
    for name in ("streamapp-worker", "streamapp-learner"):
        probes = container(name)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert '@app.page("/readyz")' in web and '@app.page("/healthz")' in web
    exporter = container("streamapp-lag-exporter")["args"]
    assert exporter[exporter.index("--port") + 1] == str(
        container("streamapp-lag-exporter")["ports"][0]["containerPort"]
    )


def test_autoscaler_follows_lag_of_the_worker_group_up_to_the_partition_count():
    hpa = BY_KIND_NAME[("HorizontalPodAutoscaler", "streamapp-worker")]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "streamapp-worker",
    }
    (metric,) = hpa["metrics"]
    assert metric["external"]["metric"]["name"] == "streamapp_group_lag_messages"
    assert (
        "record: streamapp_group_lag_messages"
        in (ROOT / "deploy/prometheus/alerts.yml").read_text()
    )
    assert (
        metric["external"]["metric"]["selector"]["matchLabels"]["group"]
        == CONFIG["STREAMAPP_APP_ID"]
    )
    partitions = {
        yaml.safe_load((ROOT / f"topics/{t}.yaml").read_text())["partitions"]
        for t in ("clicks", "carts", "refresh")
    }
    assert hpa["maxReplicas"] == max(partitions), "more workers than partitions would idle"
    assert 1 <= hpa["minReplicas"] <= DEPLOYMENTS["streamapp-worker"]["spec"]["replicas"]


def test_one_learner_never_two():
    learner = DEPLOYMENTS["streamapp-learner"]["spec"]
    assert learner["replicas"] == 1
    assert learner["strategy"]["type"] == "Recreate"
