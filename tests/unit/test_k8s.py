"""deploy/k8s cannot be applied here (no cluster): check it statically, against the
Kubernetes API's own schemas (kubernetes-validate, strict: an unknown field fails) and against
the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import kubernetes_validate
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
    assert {
        ("Namespace", "streamapp"),
        ("Service", "streamapp-api"),
        ("Job", "streamapp-topics"),
        ("NetworkPolicy", "streamapp"),
    } <= set(BY_KIND_NAME)


# The oldest Kubernetes release the manifests promise to apply to.
KUBERNETES = "1.30"


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_manifest_is_valid_for_the_kubernetes_api_with_no_unknown_field(name):
    kubernetes_validate.validate(DOCS[name], KUBERNETES, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    broken = yaml.safe_load((K8S / "worker.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="securityContex"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def pod_specs() -> dict[str, dict]:
    """Every pod template: the Deployments' and the topics Job's."""
    jobs = {n: d for (k, n), d in BY_KIND_NAME.items() if k == "Job"}
    return {n: d["spec"]["template"]["spec"] for n, d in {**DEPLOYMENTS, **jobs}.items()}


@pytest.mark.parametrize("name", sorted(pod_specs()))
def test_every_pod_runs_non_root_read_only_without_privileges_within_limits(name):
    pod = pod_specs()[name]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (Dockerfile)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (only,) = pod["containers"]
    assert only["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = only["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert only["image"] == f"streamapp:{version}", "an immutable release tag, never :latest"
    # The mounts are the only places it writes or reads secrets from; every one has a volume.
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in only["volumeMounts"]} <= volumes
    assert "10001" in (ROOT / "Dockerfile").read_text()


def test_no_secret_value_sits_in_the_config_map():
    for name, value in CONFIG.items():
        assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY", name) or name.endswith("_FILE"), name
        assert not re.search(r"://[^/@:]+:[^/@]+@", value), f"{name} holds a password"
    mounted = {
        v["secret"]["secretName"]
        for pod in pod_specs().values()
        for v in pod["volumes"]
        if "secret" in v
    }
    assert mounted == {
        "streamapp-kafka",
        "streamapp-kafka-operator",
        "streamapp-redis",
        "streamapp-api-keys",
    }
    mounts = {m["mountPath"] for m in container("streamapp-worker")["volumeMounts"]}
    files = ("API_KEYS_FILE", "REDIS_PASSWORD_FILE", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CAFILE")
    assert all(str(Path(CONFIG[f"STREAMAPP_{f}"]).parent) in mounts for f in files)


def test_the_api_service_reaches_the_workers_and_the_policy_only_their_ports():
    service = BY_KIND_NAME[("Service", "streamapp-api")]["spec"]
    worker = DEPLOYMENTS["streamapp-worker"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= worker.items()
    assert service["ports"] == [{"name": "http", "port": 6066, "targetPort": "http"}]
    policy = BY_KIND_NAME[("NetworkPolicy", "streamapp")]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    open_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    served = {p["containerPort"] for name in DEPLOYMENTS for p in container(name)["ports"]}
    assert open_ports == served
    namespace = BY_KIND_NAME[("Namespace", "streamapp")]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


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
