"""docker-compose.yml as Docker Compose reads it, without a Docker engine: compose-go (the loader
of ``docker compose``) resolves and validates it, as ``docker compose config`` would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def compose_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is missing: deploy/compose-check is built with the Go toolchain")
    binary = tmp_path_factory.mktemp("compose-check") / "compose-check"
    subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=ROOT / "deploy/compose-check",
        check=True,
        timeout=600,
    )
    return binary


def config(checker: Path, file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checker), str(file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_docker_compose_loads_our_stack(compose_check):
    out = config(compose_check, ROOT / "docker-compose.yml")
    assert out.returncode == 0, out.stderr
    project = yaml.safe_load(out.stdout)
    services = project["services"]
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile"
    published = [p for s in services.values() for p in s.get("ports", ())]
    assert published and all(p["host_ip"] == "127.0.0.1" for p in published)
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_docker_compose_rejects_a_broken_file(compose_check, tmp_path):
    broken = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broken["services"]["worker"]["depends_on"]["nowhere"] = {"condition": "service_started"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    out = config(compose_check, path)
    assert out.returncode == 1
    assert "nowhere" in out.stderr
