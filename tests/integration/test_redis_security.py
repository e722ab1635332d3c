"""The worker through a Redis that speaks TLS only and knows one ACL user, limited to the
commands and the keys streamapp needs; a wrong password fails fast, and no password reaches a
log line or an error."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme

from tests.support import Tail, command, free_port, now_ms, send, wait_for

pytestmark = pytest.mark.integration

PASSWORD = f"pw-{uuid.uuid4().hex}"


def acl(app_id: str) -> list[str]:
    """The user the worker connects as: every command but the dangerous ones (FLUSHALL,
    CONFIG SET, DEBUG, KEYS, ...), on the deployment's keys only (its hash tag)."""
    return ["streamapp", "on", f">{PASSWORD}", f"~{{{app_id}}}*", "+@all", "-@dangerous"]


@pytest.fixture
def tls_redis(tmp_path: Path, deployment) -> Iterator[tuple[int, Path]]:
    """A redis-server on a free loopback port, TLS only, its default user off; yields the
    port and the CA's certificate."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port", "0",
            "--tls-port", str(port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert),
            "--tls-key-file", str(key),
            "--tls-ca-cert-file", str(ca_file),
            "--tls-auth-clients", "no",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(tmp_path),
            "--user", "default", "off",
            "--user", *acl(deployment.settings.app_id),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client(port, ca_file).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield port, ca_file
    finally:
        proc.terminate()
        proc.wait(10)


def client(port: int, ca_file: Path, password: str = PASSWORD) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        username="streamapp",
        password=password,
        ssl=True,
        ssl_ca_certs=str(ca_file),
    )


async def test_the_worker_runs_through_tls_and_an_acl_user_and_never_logs_the_password(
    deployment, producer, tls_redis
):
    port, ca_file = tls_redis
    over_tls = {
        "STREAMAPP_REDIS_URL": f"rediss://streamapp:{PASSWORD}@127.0.0.1:{port}/0",
        "STREAMAPP_REDIS_CA_FILE": str(ca_file),
    }
    worker = deployment.worker(**over_tls).start()
    clicks = deployment.topic("clicks")
    async with Tail(deployment.topic("recommendations")) as recs:
        for n in range(4):
            event = {"event_id": f"e{n}", "user_id": "u1", "item_id": f"i{n % 2}", "ts": now_ms()}
            await send(producer, clicks, "u1", event)
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "e3" for r in rs))
    mine = client(port, ca_file)
    assert mine.exists(f"{{{deployment.settings.app_id}}}:default:u:u1:items")
    assert worker.get("/v1/users/u1/recommendations")["personalised"] is True

    # The user reaches its deployment's keys only, and none of the dangerous commands.
    with pytest.raises(redis.exceptions.NoPermissionError):
        mine.set("someone-else:key", "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        mine.flushall()

    # A wrong password fails at once, in one line, without the password; plaintext is refused.
    wrong = {
        **over_tls,
        "STREAMAPP_REDIS_URL": over_tls["STREAMAPP_REDIS_URL"].replace(
            PASSWORD, "not-the-password"
        ),
    }
    started = time.monotonic()
    refused = command(deployment, "model", "status", **wrong)
    assert refused.returncode == 2 and time.monotonic() - started < 30
    assert "not-the-password" not in refused.stdout + refused.stderr
    plain = {**over_tls, "STREAMAPP_REDIS_URL": f"redis://streamapp:{PASSWORD}@127.0.0.1:{port}/0"}
    assert command(deployment, "model", "status", **plain).returncode == 2

    # The password, from a file with a URL that holds none, works; and it is in no output.
    secret = Path(deployment.env["STREAMAPP_DATADIR"]) / "redis-password"
    secret.write_text(PASSWORD + "\n")
    from_file = {
        **over_tls,
        "STREAMAPP_REDIS_URL": f"rediss://streamapp@127.0.0.1:{port}/0",
        "STREAMAPP_REDIS_PASSWORD_FILE": str(secret),
    }
    status = command(deployment, "model", "status", **from_file)
    assert status.returncode == 0, status.stderr
    shown = command(deployment, "settings", **over_tls)
    assert "streamapp:***@" in shown.stdout
    worker.stop()
    outputs = [worker.log.read_text(), refused.stderr, shown.stdout, shown.stderr, status.stderr]
    await wait_for(lambda: worker.proc is not None and worker.proc.poll() is not None)
    assert all(PASSWORD not in text for text in outputs)
