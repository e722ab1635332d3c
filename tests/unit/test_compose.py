"""docker-compose.yml cannot run here (no Docker engine): check it statically against our stack."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from streamapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in SERVICES[service].get("environment", {}).items()}


def test_every_part_of_the_stack_is_a_service():
    assert {"kafka", "redis", "topics", "worker", "learner", "replay", "prometheus"} <= (
        SERVICES.keys()
    )
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:4.")
    assert SERVICES["redis"]["image"].startswith("redis:7")


def listeners(variable: str) -> dict[str, str]:
    """``NAME://host:port`` entries of a Kafka listener variable, by name."""
    entries = (entry.split("://") for entry in env("kafka")[variable].split(","))
    return {name: address for name, address in entries}


def test_kafka_is_single_node_kraft_of_the_local_stacks_version():
    kafka = env("kafka")
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    pom = (ROOT / "deploy/kafka/pom.xml").read_text()
    local = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert local is not None
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{local[1]}"


def test_kafka_answers_containers_and_clients_on_the_host():
    advertised = listeners("KAFKA_ADVERTISED_LISTENERS")
    bound = listeners("KAFKA_LISTENERS")
    internal = env("kafka")["KAFKA_INTER_BROKER_LISTENER_NAME"]
    for service in ("topics", "worker", "learner", "replay", "lag-exporter"):
        assert env(service)["STREAMAPP_KAFKA_BOOTSTRAP"] == advertised[internal], service
    # The host listener advertises the address our CLI and the README's kcat lines use by
    # default, and the container port behind it is the one published on the host's loopback.
    host = next(name for name, address in advertised.items() if address.startswith("127.0.0.1:"))
    assert advertised[host] == Settings().kafka_bootstrap
    port = advertised[host].rsplit(":", 1)[1]
    assert bound[host] == f":{port}"
    assert f"127.0.0.1:{port}:{port}" in SERVICES["kafka"]["ports"]
    protocols = dict(
        p.split(":") for p in env("kafka")["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(bound) == set(protocols)


def test_host_ports_are_loopback_and_match_our_defaults():
    defaults = Settings()
    expected = {
        "kafka": defaults.kafka_bootstrap.rsplit(":", 1)[1],
        "redis": defaults.redis_url.rsplit(":", 1)[1].split("/")[0],
        "worker": str(defaults.web_port),
    }
    for service, port in expected.items():
        assert f"127.0.0.1:{port}:{port}" in SERVICES[service]["ports"]
    assert all(
        mapping.startswith("127.0.0.1:")
        for service in SERVICES.values()
        for mapping in service.get("ports", ())
    )
    assert env("worker")["STREAMAPP_WEB_PORT"] == str(defaults.web_port)


def test_worker_env_names_real_settings_and_services():
    fields = {f"STREAMAPP_{name.upper()}" for name in Settings.model_fields}
    for service in ("topics", "api-key", "worker", "learner", "replay"):
        assert set(env(service)) <= fields, service
    assert env("worker")["STREAMAPP_REDIS_URL"].startswith("redis://redis:")


def test_prometheus_scrapes_the_worker_service():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    assert f"worker:{Settings().web_port}" in targets
    assert f"learner:{Settings().learner_web_port}" in targets
    exporter = SERVICES["lag-exporter"]["command"]
    assert f"lag-exporter:{exporter[exporter.index('--port') + 1]}" in targets
    assert config["rule_files"] == ["alerts.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in SERVICES["prometheus"]["volumes"]


def test_grafana_is_provisioned_with_our_datasource_and_dashboard():
    volumes = SERVICES["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    provisioning = ROOT / "deploy/grafana/provisioning"
    source = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards/streamapp.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert all(p.startswith("127.0.0.1:") for p in SERVICES["grafana"]["ports"])
    grafana = SERVICES["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert grafana["GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"] == "true", "no admin/admin"


def test_replay_finds_the_mounted_datasets():
    (mount,) = SERVICES["replay"]["volumes"]
    target = mount.split(":")[1]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"STREAMAPP_DATASETS_DIR={target}" in dockerfile


def test_the_worker_reads_the_api_keys_the_api_key_service_writes():
    written = SERVICES["api-key"]["command"]
    key_file = written[written.index("--file") + 1]
    assert env("worker")["STREAMAPP_API_KEYS_FILE"] == key_file
    volume = f"{Path(key_file).parent}"
    assert any(m.split(":")[1] == volume for m in SERVICES["api-key"]["volumes"])
    assert f"api-keys:{volume}:ro" in SERVICES["worker"]["volumes"]
    assert SERVICES["worker"]["depends_on"]["api-key"]["condition"] == (
        "service_completed_successfully"
    )
