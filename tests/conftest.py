"""Fixtures shared by every test area: the real local stack (Kafka + Redis).

The stack is started if it is not running and stopped again at the end (only what this
session started), so a test run leaves nothing behind. Unit tests never touch it.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def stack() -> Iterator[None]:
    """Kafka on 127.0.0.1:9092 and Redis on 127.0.0.1:6379, started here if needed."""
    started = []
    for name, port in (("kafka", 9092), ("redis", 6379)):
        if not port_open(port):
            subprocess.run(["bash", str(ROOT / f"deploy/{name}/{name}.sh"), "up"], check=True)
            started.append(name)
    yield
    for name in reversed(started):
        subprocess.run(["bash", str(ROOT / f"deploy/{name}/{name}.sh"), "down"], check=False)
