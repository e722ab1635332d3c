"""Every client through a broker that speaks SASL_SSL only, with SCRAM-SHA-512 users and an
authorizer: each principal gets the ACLs ``streamapp topics acls`` derives from the topic
declarations, and nothing more. The worker, the learner, ``lag``, ``topics apply|check`` and
``replay`` work through it; a wrong password fails fast and says why; a principal without
write access to ``inventory`` cannot forge a stock-out. A second listener speaks TLS and wants
a client certificate, whose common name is the principal."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from cryptography.hazmat.primitives import serialization

from streamapp.brokers import kafka_options
from streamapp.settings import Settings
from tests.support import Env, Worker, command, free_port, now_ms, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
MECHANISM = "SCRAM-SHA-512"
# One password per principal, made up per run: a test that greps for them finds only leaks.
USERS = {name: f"{name}-{uuid.uuid4().hex}" for name in ("admin", "shop", "app", "ops")}
PRINCIPALS = {"shop": "User:shop", "streamapp": "User:app", "operator": "User:ops"}


@dataclass(frozen=True)
class SecureBroker:
    port: int
    tls_port: int  # TLS with a client certificate required: the certificate names the user
    ca: trustme.CA  # the brokers' and the clients' certificates' issuer
    ca_file: Path
    admin_config: Path

    def env(self, user: str, password: str | None = None) -> dict[str, str]:
        """The settings that connect as ``user`` (with its password unless told another)."""
        return {
            "STREAMAPP_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.port}",
            "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMAPP_KAFKA_SASL_MECHANISM": MECHANISM,
            "STREAMAPP_KAFKA_SASL_USERNAME": user,
            "STREAMAPP_KAFKA_SASL_PASSWORD": USERS[user] if password is None else password,
            "STREAMAPP_KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def grant(self, arguments: list[str]) -> None:
        """Run Kafka's own ACL tool as the super user."""
        subprocess.run(
            [
                "bash", str(KAFKA_SH), "tool", "org.apache.kafka.tools.AclCommand",
                "--bootstrap-server", f"127.0.0.1:{self.port}",
                "--command-config", str(self.admin_config),
                *arguments,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip


def _jaas(user: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{USERS[user]}";'
    )


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A second local broker: a SASL_SSL listener on a free loopback port (its certificate
    from a CA made here) and an SSL one that requires a client certificate of that CA, SCRAM
    users created when its storage is formatted, the standard authorizer denying whatever no
    ACL allows. Its controller listener stays plaintext on
    loopback, as the broker's own (``User:ANONYMOUS``, a super user for the controller)."""
    folder = tmp_path_factory.mktemp("secure-kafka")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    pkcs8 = key.private_bytes(  # Kafka's PEM key store reads PKCS#8 only
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore, ca_file = folder / "broker.pem", folder / "ca.pem"
    keystore.write_bytes(pkcs8 + b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    port, tls_port, controller = free_port(), free_port(), free_port()
    properties = folder / "secure.properties"
    properties.write_text(
        "\n".join(
            [
                f"listeners=SASL_SSL://127.0.0.1:{port},SSL://127.0.0.1:{tls_port},"
                f"CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=SASL_SSL://127.0.0.1:{port},SSL://127.0.0.1:{tls_port}",
                "inter.broker.listener.name=SASL_SSL",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
                "listener.name.ssl.ssl.client.auth=required",
                "ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/,DEFAULT",
                f"sasl.enabled.mechanisms={MECHANISM}",
                f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
                f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={_jaas('admin')}",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={ca_file}",
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "super.users=User:admin;User:ANONYMOUS",
                "allow.everyone.if.no.acl.found=false",
                "",
            ]
        )
    )
    admin_config = folder / "admin.properties"
    admin_config.write_text(
        "\n".join(
            [
                "security.protocol=SASL_SSL",
                f"sasl.mechanism={MECHANISM}",
                f"sasl.jaas.config={_jaas('admin')}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={ca_file}",
                "",
            ]
        )
    )
    scram = " ".join(
        f"--add-scram {MECHANISM}=[name={user},password={password}]"
        for user, password in USERS.items()
    )
    env = {
        **os.environ,
        "STREAMAPP_STACK_DIR": str(folder / "stack"),
        "STREAMAPP_KAFKA_PORT": str(port),
        "STREAMAPP_KAFKA_CONTROLLER_PORT": str(controller),
        "STREAMAPP_KAFKA_HEAP": "384m",
        "STREAMAPP_KAFKA_PROPERTIES": str(properties),
        "STREAMAPP_KAFKA_FORMAT_ARGS": scram,
    }
    subprocess.run(["bash", str(KAFKA_SH), "up"], env=env, check=True, timeout=180)
    try:
        yield SecureBroker(port, tls_port, ca, ca_file, admin_config)
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "down"], env=env, check=False, timeout=120)


@pytest.fixture
def granted(deployment: Env, secure_broker: SecureBroker) -> SecureBroker:
    """The deployment's topics on the secure broker, created by the operator's principal, and
    every ACL ``streamapp topics acls`` prints for its three principals."""
    principals = [f"--principal={role}={p}" for role, p in PRINCIPALS.items()]
    acls = command(deployment, "topics", "acls", *principals)
    assert acls.returncode == 0, acls.stderr
    for line in acls.stdout.splitlines():
        secure_broker.grant(shlex.split(line))
    applied = command(deployment, "topics", "apply", **secure_broker.env("ops"))
    assert applied.returncode == 0, applied.stderr
    return secure_broker


def _settings(deployment: Env, broker: SecureBroker, user: str) -> Settings:
    """The settings the variables of ``broker.env(user)`` give, for a client in this test."""
    given = {k.removeprefix("STREAMAPP_").lower(): v for k, v in broker.env(user).items()}
    return Settings(**given, topic_prefix=deployment.settings.topic_prefix)


async def test_every_client_works_through_sasl_ssl_with_no_more_than_its_acls(
    deployment: Env, granted: SecureBroker
) -> None:
    as_app = granted.env("app")
    checked = command(deployment, "topics", "check", **granted.env("ops"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    worker = deployment.worker(**as_app).start()
    learner = Worker(
        deployment,
        {**as_app, "STREAMAPP_LEARNER_WEB_PORT": str(free_port())},
        command="learner",
    )
    deployment.workers.append(learner)
    learner.start()

    # The shop's principal writes the events and the inventory (replay), and reads the lists.
    replayed = command(deployment, "replay", "--head", "300", **granted.env("shop"))
    assert replayed.returncode == 0, replayed.stderr
    shop = _settings(deployment, granted, "shop")
    lists = AIOKafkaConsumer(
        shop.topic("recommendations"),
        **kafka_options(shop),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await lists.start()
    try:
        got = await lists.getmany(timeout_ms=30_000)
        while not got:
            got = await lists.getmany(timeout_ms=30_000)
    finally:
        await lists.stop()
    first = orjson.loads(next(iter(got.values()))[0].value)
    assert first["items"], first

    # lag reads the group's committed offsets through the same listener (once the worker
    # has committed some).
    def lag_of_clicks() -> bool:
        lag = command(deployment, "lag", **as_app)
        assert lag.returncode == 0, lag.stderr
        return deployment.settings.topic("clicks") in lag.stdout

    await wait_for(lag_of_clicks, what="the worker's committed offsets in `lag`")

    # Forgery: streamapp's own principal reads inventory but may not write it, so it cannot
    # take an item out of every list; the shop's may not write lists.
    for user, topic in (("app", "inventory"), ("shop", "recommendations")):
        producer = AIOKafkaProducer(**kafka_options(_settings(deployment, granted, user)))
        await producer.start()
        try:
            forged = orjson.dumps({"item_id": "i1", "stock": 0, "ts": now_ms()})
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(deployment.topic(topic), forged, key=b"i1")
        finally:
            await producer.stop()
    assert worker.proc is not None and worker.proc.poll() is None
    assert learner.proc is not None and learner.proc.poll() is None
    worker.stop()
    learner.stop()
    logs = worker.log.read_text() + learner.log.read_text()
    assert all(password not in logs for password in USERS.values())


async def test_a_wrong_password_or_a_plaintext_client_is_refused_at_once(
    deployment: Env, secure_broker: SecureBroker
) -> None:
    wrong = secure_broker.env("app", password="not-the-password")
    started = time.monotonic()
    refused = command(deployment, "topics", "check", **wrong)
    assert refused.returncode == 2
    assert time.monotonic() - started < 30
    assert "refused the connection" in refused.stderr
    assert "Authentication failed" in refused.stderr, refused.stderr
    assert "not-the-password" not in refused.stdout + refused.stderr

    worker = Worker(deployment, wrong)
    deployment.workers.append(worker)  # stopped at the end, should it start after all
    with pytest.raises(RuntimeError, match="refused the connection"):
        worker.start()

    plaintext = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{secure_broker.port}")
    with pytest.raises(KafkaConnectionError):
        await plaintext.start()
    await plaintext.stop()
    await wait_for(lambda: worker.proc is not None and worker.proc.poll() is not None)


async def test_a_client_certificate_names_its_principal_over_tls(
    deployment: Env, granted: SecureBroker, tmp_path: Path
) -> None:
    over_tls = {
        "STREAMAPP_KAFKA_BOOTSTRAP": f"127.0.0.1:{granted.tls_port}",
        "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STREAMAPP_KAFKA_SSL_CAFILE": str(granted.ca_file),
    }
    # No certificate: the TLS listener lets no one in.
    anonymous = command(deployment, "topics", "check", **over_tls)
    assert anonymous.returncode == 2, anonymous.stdout + anonymous.stderr
    # The operator's certificate: its common name is the principal the ACLs name (User:ops).
    leaf = granted.ca.issue_cert("ops.streamapp.test", common_name="ops")
    cert, key = tmp_path / "ops.pem", tmp_path / "ops.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    as_ops = {
        **over_tls,
        "STREAMAPP_KAFKA_SSL_CERTFILE": str(cert),
        "STREAMAPP_KAFKA_SSL_KEYFILE": str(key),
    }
    checked = command(deployment, "topics", "check", **as_ops)
    assert checked.returncode == 0, checked.stdout + checked.stderr
