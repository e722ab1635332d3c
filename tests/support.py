"""Helpers for integration tests: a worker subprocess, producing, tailing a topic, waiting."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamapp import databases
from streamapp.settings import Settings
from streamapp.state import keys

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin" / "streamapp"
REDIS_DB = databases.TESTS
# The suite runs on one Redis (127.0.0.1:6379, database REDIS_DB) or, with
# STREAMAPP_TEST_REDIS=cluster, on the local three-master Redis Cluster of
# deploy/redis/cluster.sh (database 0, the only one; deployments apart by their app ids).
ON_CLUSTER = os.environ.get("STREAMAPP_TEST_REDIS") == "cluster"
CLUSTER_PORT = 7001


def redis_url(database: int = REDIS_DB) -> str:
    """The URL of the suite's Redis: ``database`` on the single server, the cluster's one."""
    if ON_CLUSTER:
        return f"redis://127.0.0.1:{CLUSTER_PORT}/0"
    return f"redis://127.0.0.1:6379/{database}"


def redis_client(url: str) -> redis.Redis:
    """A synchronous client of ``url`` (a cluster client on the cluster: same commands)."""
    if ON_CLUSTER:
        return redis.RedisCluster.from_url(url)  # type: ignore[return-value]
    return redis.Redis.from_url(url)


def fresh_copy(dest: Path) -> Path:
    """The repository as a clone of the work tree would give it (tracked files and new ones git
    does not ignore, nothing an earlier run left behind), with the installed virtual environment."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if not os.path.lexists(source):
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Env:
    """One isolated deployment: settings, the env vars that give them, and Redis."""

    settings: Settings
    env: dict[str, str]
    redis: redis.Redis
    workers: list[Worker] = field(default_factory=list)

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def key(self, rest: str) -> str:
        """The Redis key ``rest`` (``default:u:u1:items``) of this deployment: its hash tag
        first (streamapp.state.keys)."""
        return keys.prefix(self.settings.app_id) + rest

    def worker(self, **extra: str) -> Worker:
        w = Worker(self, extra)
        self.workers.append(w)
        return w


# The API key every test deployment issues (for both its tenants); the helpers below send it
# with every /v1 request unless the request names its own Authorization.
API_KEY = f"test-{uuid.uuid4().hex}"


def write_api_keys(path: Path, tenants: tuple[str, ...], key: str = API_KEY) -> Path:
    """A key file granting ``key`` every one of ``tenants``."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    entry = {"name": "tests", "sha256": digest, "tenants": list(tenants)}
    path.write_text(yaml.safe_dump([entry]))
    return path


def authorised(path: str, headers: dict[str, str] | None) -> dict[str, str]:
    """``headers`` with the test key added to a /v1 request that names none."""
    out = dict(headers or {})
    if path.startswith("/v1/") and "Authorization" not in out:
        out["Authorization"] = f"Bearer {API_KEY}"
    return out


class Worker:
    """A ``streamapp worker`` (or ``learner``) subprocess."""

    def __init__(self, env: Env, extra: dict[str, str], command: str = "worker") -> None:
        self.command = command
        self.env = {**env.env, **extra}
        port_var = "STREAMAPP_LEARNER_WEB_PORT" if command == "learner" else "STREAMAPP_WEB_PORT"
        self.port = int(self.env[port_var])
        self.log = Path(self.env["STREAMAPP_DATADIR"]) / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Worker:
        self.proc = subprocess.Popen(
            [str(BIN), self.command, "--loglevel", "warning"],
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout}s: {self.log.read_text()[-3000:]}")

    def get(self, path: str) -> Any:
        """The decoded body of a successful GET (an error status fails the test)."""
        status, _, body = self.request(path)
        assert status < 400, f"GET {path}: {status} {body}"
        return body

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        """Status, headers and decoded body, for error responses too."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            headers=authorised(path, headers),
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), orjson.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), orjson.loads(err.read())

    def text(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.read().decode()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def command(env: Env, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """One ``streamapp`` command against the deployment (``extra``: more settings), its
    output captured."""
    return subprocess.run(
        [str(BIN), *args],
        check=False,
        env={**env.env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def send(
    producer: AIOKafkaProducer,
    topic: str,
    key: str,
    value: Any,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Produce one record and wait for the broker's ack."""
    payload = value if isinstance(value, bytes) else orjson.dumps(value)
    await producer.send_and_wait(topic, payload, key=key.encode(), headers=headers)


class Tail:
    """Everything published to a topic since the start, consumed with a real client."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[Any] = []
        self.headers: list[dict[str, bytes]] = []  # of each record, in the same order
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers="127.0.0.1:9092",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def until(
        self, predicate: Callable[[list[Any]], bool], timeout: float = 30.0
    ) -> list[Any]:
        """Consume until ``predicate(all values so far)`` holds; values are decoded JSON."""
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.topic}: condition not met; {len(self.records)} records")
            batch = await self.consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                self.records += [orjson.loads(r.value) for r in records]
                self.headers += [dict(r.headers) for r in records]
        return self.records


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` (a function, sync or async) until truthy; no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.1)


def start_lag_exporter(group: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``streamapp lag-exporter`` for one group, exporting every half second."""
    return subprocess.Popen(
        [str(BIN), "lag-exporter", "--group", group, "--port", str(port), "--interval", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


async def send_clicks(
    producer: AIOKafkaProducer, topic: str, first: int, count: int, users: int, items: int, t: int
) -> None:
    """Clicks ``e{first}``… cycling over ``users`` users and ``items`` items, at ``t + n``."""
    for n in range(first, first + count):
        user = f"u{n % users}"
        await send(
            producer,
            topic,
            user,
            {"event_id": f"e{n}", "user_id": user, "item_id": f"i{n % items}", "ts": t + n},
        )
