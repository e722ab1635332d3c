"""The package as a user installs it: a built wheel in a clean virtual environment, run from a
folder outside the repository, so nothing can be read from the checkout by accident."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, fresh_copy

pytestmark = pytest.mark.integration

# Run by the installed package: every example of every schema goes through what reads it in
# production — the worker's decoder for inputs, the compiled contract for what we publish — and
# the Lua scripts and the HTTP contract load.
CHECK_CONTRACTS = """
import sys
import orjson
import streamapp
from streamapp.http import openapi
from streamapp.contracts.events import Limits, decode
from streamapp.contracts.schemas import MESSAGES, contract, load
from streamapp.state.store import LUA_DIR

assert "site-packages" in streamapp.__file__, streamapp.__file__
inputs = {"click", "cart", "inventory"}
checked = 0
for message in MESSAGES:
    for example in load(message)["examples"]:
        if message in inputs:
            tenants = (example.get("tenant", "default"),)
            decode(orjson.dumps(example), message, Limits(tenants, 1 << 20, 0, 1 << 62))
        elif not contract(message).is_valid(example):
            sys.exit(f"{message} example fails its own schema: {example}")
        checked += 1
assert sorted(p.name for p in LUA_DIR.glob("*.lua")), LUA_DIR
assert openapi.document()["openapi"].startswith("3.1")
print(f"{checked} examples decoded")
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a fresh copy of the repository (the build leaves its folders there,
    not in the checkout), installed with its dependencies into a new venv."""
    where = tmp_path_factory.mktemp("wheel")
    source = fresh_copy(where / "clone")
    subprocess.run(
        [str(ROOT / ".venv/bin/pip"), "wheel", "-q", "--no-deps", "-w", str(where), str(source)],
        check=True,
        timeout=600,
    )
    (wheel,) = where.glob("streamapp-*.whl")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=900,
    )
    return venv / "bin"


def run(bin_dir: Path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_installed_wheel_carries_its_contracts_and_checks_the_topics(
    installed, deployment, tmp_path
):
    env = {
        "PATH": "/usr/bin:/bin",
        **{k: v for k, v in deployment.env.items() if "STREAMAPP_" in k},
    }

    version = run(installed, "streamapp", "--version", env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("streamapp "), version

    check = run(installed, "streamapp", "topics", "check", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    declared = len(list((ROOT / "topics").glob("*.yaml")))
    assert check.stdout.strip() == f"{declared} topics match the declarations"

    decoded = run(installed, "python", "-c", CHECK_CONTRACTS, env=env, cwd=tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.split()[0] != "0"


def test_topics_apply_with_no_declarations_is_an_error(installed, deployment, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        **{k: v for k, v in deployment.env.items() if "STREAMAPP_" in k},
        "STREAMAPP_TOPICS_DIR": str(tmp_path),
    }
    for action in ("apply", "check"):
        out = run(installed, "streamapp", "topics", action, env=env, cwd=tmp_path)
        assert out.returncode == 2, out
        assert out.stderr.startswith("streamapp: no topic declarations"), out.stderr
        assert "Traceback" not in out.stderr
