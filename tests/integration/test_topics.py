"""`streamapp topics apply|check` against the real broker."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamapp.ops.topics import TopicAdmin, load_specs
from streamapp.settings import Settings
from tests.support import BIN

pytestmark = pytest.mark.integration


def cli(*args: str, prefix: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "topics", *args],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "STREAMAPP_TOPIC_PREFIX": prefix, **env},
    )


async def test_apply_is_idempotent_and_check_reports_drift(stack):
    prefix = f"tt{uuid.uuid4().hex[:6]}."
    settings = Settings(topic_prefix=prefix)
    specs = load_specs(settings)
    try:
        missing = cli("check", prefix=prefix)
        assert missing.returncode == 1
        assert f"{prefix}clicks: existence" in missing.stdout

        created = cli("apply", prefix=prefix)
        assert created.returncode == 0, created.stderr
        assert f"created {prefix}inventory (3 partitions)" in created.stdout
        assert cli("check", prefix=prefix).returncode == 0
        again = cli("apply", prefix=prefix)
        assert again.stdout.strip() == "topics already match the declarations"

        async with TopicAdmin(settings) as admin:
            await admin.admin.alter_configs(
                [
                    ConfigResource(
                        ConfigResourceType.TOPIC,
                        f"{prefix}inventory",
                        {"cleanup.policy": "delete", "max.message.bytes": "2097152"},
                    )
                ]
            )
        drift = cli("check", prefix=prefix)
        assert drift.returncode == 1
        assert f"{prefix}inventory: cleanup.policy declared compact" in drift.stdout
        assert cli("apply", prefix=prefix).returncode == 0
        assert cli("check", prefix=prefix).returncode == 0
    finally:
        async with TopicAdmin(settings) as admin:
            await admin.admin.delete_topics([s.name for s in specs])


async def test_an_environment_sets_replication_and_check_reports_a_cluster_below_it(stack):
    """One local broker: a production overlay (3 replicas, 2 in sync) is reported as a
    cluster below it; min.insync.replicas is applied to every topic."""
    prefix = f"tt{uuid.uuid4().hex[:6]}."
    settings = Settings(topic_prefix=prefix, topic_min_insync_replicas=1)
    specs = load_specs(settings)
    assert all(s.config["min.insync.replicas"] == "1" for s in specs)
    try:
        insync = {"STREAMAPP_TOPIC_MIN_INSYNC_REPLICAS": "1"}
        assert cli("apply", prefix=prefix, **insync).returncode == 0
        assert cli("check", prefix=prefix, **insync).returncode == 0
        production = {
            "STREAMAPP_TOPIC_REPLICATION_FACTOR": "3",
            "STREAMAPP_TOPIC_MIN_INSYNC_REPLICAS": "2",
        }
        below = cli("check", prefix=prefix, **production)
        assert below.returncode == 1
        assert f"{prefix}clicks: replication factor declared 3, cluster has 1" in below.stdout
        assert f"{prefix}clicks: min.insync.replicas declared 2, cluster has 1" in below.stdout
    finally:
        async with TopicAdmin(settings) as admin:
            await admin.admin.delete_topics([s.name for s in specs])
