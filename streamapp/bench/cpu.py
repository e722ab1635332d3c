"""CPU time of every process an event passes through, so the bench can say what an event costs.

Wall-clock rates move with the machine (the same bench has run 3× slower on one machine than on
another); CPU seconds per event move far less, and they add up to a capacity model: events/s
per core = 1 / (CPU seconds per event). The worker and learner are read from ``/proc`` (user +
system time of the process and its threads), Redis from ``INFO cpu`` (the server's own
accounting), the broker from ``/proc`` of the JVM that runs ``kafka.Kafka``.

>>> per_event({"worker": 1.0, "redis": 0.2}, {"worker": 1.5, "redis": 0.3}, 10_000)
{'worker': 50.0, 'redis': 10.0, 'total': 60.0}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from streamapp.databases import AsyncRedis

__all__ = ["CpuMeter", "broker_pid", "per_event", "process_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, all its threads included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def broker_pid() -> int | None:
    """The local Kafka broker's JVM (the local stack runs one), or None when there is none."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka\x00" in command:
            return int(entry.name)
    return None


async def server_info(client: AsyncRedis, section: str) -> list[dict[str, Any]]:
    """``INFO section`` of the Redis server, or of every master of a cluster."""
    if isinstance(client, aioredis.RedisCluster):
        replies = await client.info(section, target_nodes=aioredis.RedisCluster.PRIMARIES)
        return list(replies.values())
    return [await client.info(section)]


async def redis_seconds(client: AsyncRedis) -> float:
    """CPU seconds the Redis server (every master of a cluster) has used, by its own
    accounting."""
    infos = await server_info(client, "cpu")
    return sum(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]) for info in infos)


def per_event(
    before: Mapping[str, float], after: Mapping[str, float], events: int
) -> dict[str, float]:
    """Microseconds of CPU per event of each process between two readings, and their total."""
    out = {
        name: round((after[name] - before[name]) * 1e6 / max(1, events), 1)
        for name in before
        if name in after
    }
    out["total"] = round(sum(out.values()), 1)
    return out


class CpuMeter:
    """Reads the CPU seconds of the named processes and of Redis at once."""

    def __init__(self, client: AsyncRedis, pids: Mapping[str, int | None]) -> None:
        self.client = client
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}

    async def read(self) -> dict[str, float]:
        out = {name: process_seconds(pid) for name, pid in self.pids.items()}
        out["redis"] = await redis_seconds(self.client)
        return out
