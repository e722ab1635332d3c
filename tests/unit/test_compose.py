"""docker-compose.yml cannot run here (no Docker engine): check it statically against our stack."""

from __future__ import annotations

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


def test_kafka_is_single_node_kraft_on_our_port():
    kafka = env("kafka")
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split("//")[1]
    for service in ("topics", "worker", "learner", "replay"):
        assert env(service)["STREAMAPP_KAFKA_BOOTSTRAP"] == advertised


def test_host_ports_are_loopback_and_match_our_defaults():
    defaults = Settings()
    expected = {
        "kafka": defaults.kafka_bootstrap.rsplit(":", 1)[1],
        "redis": defaults.redis_url.rsplit(":", 1)[1].split("/")[0],
        "worker": str(defaults.web_port),
    }
    for service, port in expected.items():
        (mapping,) = SERVICES[service]["ports"]
        assert mapping == f"127.0.0.1:{port}:{port}"
    assert env("worker")["STREAMAPP_WEB_PORT"] == str(defaults.web_port)


def test_worker_env_names_real_settings_and_services():
    fields = {f"STREAMAPP_{name.upper()}" for name in Settings.model_fields}
    for service in ("topics", "worker", "learner", "replay"):
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


def test_worker_image_ships_contracts():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("streamapp", "topics", "schemas"):
        assert f"COPY {folder} ./{folder}" in dockerfile
