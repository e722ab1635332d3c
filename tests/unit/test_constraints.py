"""constraints.txt pins every dependency pyproject.toml names, so CI, the venv and the image
install the versions CI tested; a dependency added without renewing it fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    """The normalised project name of a requirement (PEP 503)."""
    bare = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", bare).lower()


def test_every_dependency_is_pinned_to_one_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = {_name(r) for r in project["dependencies"]}
    named |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    lines = [
        line
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^ ]+", line) for line in lines), lines
    pinned = {_name(line) for line in lines}
    assert named <= pinned, sorted(named - pinned)


def test_the_venv_and_the_image_install_within_the_pins():
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in (ROOT / "Dockerfile").read_text()
