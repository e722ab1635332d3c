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


def cli(*args: str, prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "topics", *args],
        check=False,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "STREAMAPP_TOPIC_PREFIX": prefix},
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
