"""Topic declarations (``topics/*.yaml``) and making the cluster match them.

``apply`` creates missing topics, raises partition counts and sets declared configs;
``check`` lists every difference and changes nothing. Partitions are never lowered (Kafka
cannot) and the replication factor of an existing topic is reported, not changed. An
environment sets the replication factor and ``min.insync.replicas`` of every topic over the
declarations (``STREAMAPP_TOPIC_REPLICATION_FACTOR``, ``STREAMAPP_TOPIC_MIN_INSYNC_REPLICAS``;
3 and 2 in production).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.new_partitions import NewPartitions
from aiokafka.errors import for_code

from streamapp.brokers import kafka_options
from streamapp.errors import UsageError
from streamapp.settings import Settings

# Who a declaration's ``access`` names: the shop's systems (they write the events and the
# inventory, and read the lists), streamapp's own processes (worker and learner), and the
# people who run it with the CLI (rules, experiments, reports, topics).
ROLES = ("shop", "streamapp", "operator")


@dataclass(frozen=True)
class TopicSpec:
    """One declared topic, with the physical name (prefix applied)."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    key: str = ""
    value_schema: str = ""
    internal: bool = False
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()


def _roles(path: Path, access: dict[str, Any], verb: str) -> tuple[str, ...]:
    roles = tuple(str(r) for r in access.get(verb) or ())
    if unknown := sorted(set(roles) - set(ROLES)):
        raise UsageError(f"{path}: access.{verb} names {unknown}; the roles are {list(ROLES)}")
    return roles


def load_specs(settings: Settings) -> list[TopicSpec]:
    """All topic declarations, sorted by name, with ``topic_prefix`` applied.

    None at all is an error, not an empty plan: applying or checking nothing would report a
    cluster that matches while the worker's topics do not exist.
    """
    paths = sorted(Path(settings.topics_dir).glob("*.yaml"))
    if not paths:
        raise UsageError(
            f"no topic declarations (*.yaml) in {settings.topics_dir}; "
            "STREAMAPP_TOPICS_DIR must name a folder of them"
        )
    specs = []
    insync = settings.topic_min_insync_replicas
    for path in paths:
        doc: dict[str, Any] = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or not {"name", "partitions", "replication_factor"} <= set(
            doc
        ):
            raise UsageError(
                f"{path}: not a topic declaration (name, partitions, replication_factor); "
                f"STREAMAPP_TOPICS_DIR ({settings.topics_dir}) holds only those"
            )
        config = {k: str(v) for k, v in (doc.get("config") or {}).items()}
        access = doc.get("access") or {}
        if insync is not None:
            config["min.insync.replicas"] = str(insync)
        specs.append(
            TopicSpec(
                name=settings.topic(doc["name"]),
                partitions=int(doc["partitions"]),
                replication_factor=settings.topic_replication_factor
                or int(doc["replication_factor"]),
                config=config,
                key=doc.get("key", ""),
                value_schema=doc.get("value_schema", ""),
                internal=bool(doc.get("internal", False)),
                writers=_roles(path, access, "write"),
                readers=_roles(path, access, "read"),
            )
        )
    return specs


@dataclass(frozen=True)
class Drift:
    """One difference between a declaration and the cluster."""

    topic: str
    what: str
    declared: str
    actual: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.what} declared {self.declared}, cluster has {self.actual}"


class TopicAdmin:
    """Compares and applies topic declarations with an aiokafka admin client."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AIOKafkaAdminClient(
            **kafka_options(settings), client_id=f"{settings.app_id}-admin"
        )

    async def __aenter__(self) -> TopicAdmin:
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.admin.close()

    async def _partitions(self, names: list[str]) -> dict[str, int]:
        return {name: n for name, (n, _) in (await self._layout(names)).items()}

    async def _layout(self, names: list[str]) -> dict[str, tuple[int, int]]:
        """Each existing topic's partition count and its fewest replicas of a partition."""
        described = await self.admin.describe_topics(names)
        return {
            t["topic"]: (len(t["partitions"]), min(len(p["replicas"]) for p in t["partitions"]))
            for t in described
            if t["error_code"] == 0 and t["partitions"]
        }

    async def _configs(self, specs: list[TopicSpec]) -> dict[str, dict[str, str]]:
        resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
        out: dict[str, dict[str, str]] = {}
        for response in await self.admin.describe_configs(resources):
            for _code, _msg, _type, name, entries in response.resources:
                out[name] = {e[0]: e[1] for e in entries}
        return out

    async def diff(self, specs: list[TopicSpec]) -> list[Drift]:
        """Every way the cluster differs from ``specs``, a replication factor below the
        declared one included."""
        layout = await self._layout([s.name for s in specs])
        drifts = [
            Drift(s.name, "existence", "present", "missing") for s in specs if s.name not in layout
        ]
        existing = [s for s in specs if s.name in layout]
        configs = await self._configs(existing) if existing else {}
        for spec in existing:
            partitions, replicas = layout[spec.name]
            if partitions != spec.partitions:
                drifts.append(Drift(spec.name, "partitions", str(spec.partitions), str(partitions)))
            if replicas < spec.replication_factor:
                drifts.append(
                    Drift(
                        spec.name,
                        "replication factor",
                        str(spec.replication_factor),
                        str(replicas),
                    )
                )
            actual = configs.get(spec.name, {})
            for key, value in spec.config.items():
                if actual.get(key) != value:
                    drifts.append(Drift(spec.name, key, value, str(actual.get(key))))
        return drifts

    async def apply(self, specs: list[TopicSpec]) -> list[str]:
        """Make the cluster match ``specs``; returns one line per change made."""
        changes: list[str] = []
        present = await self._partitions([s.name for s in specs])
        missing = [s for s in specs if s.name not in present]
        if missing:
            response = await self.admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.config)
                    for s in missing
                ]
            )
            for name, code, *rest in response.topic_errors:
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS, created concurrently
                    raise for_code(code)(f"creating topic {name}: {rest}")
            changes += [f"created {s.name} ({s.partitions} partitions)" for s in missing]
        grow = {
            s.name: NewPartitions(s.partitions)
            for s in specs
            if s.name in present and present[s.name] < s.partitions
        }
        if grow:
            await self.admin.create_partitions(grow)
            changes += [
                f"{name}: partitions raised to {new.total_count}" for name, new in grow.items()
            ]
        drifted = {
            d.topic
            for d in await self.diff(specs)
            if d.what not in ("partitions", "replication factor")
        }
        to_alter = [s for s in specs if s.name in drifted and s.name in present]
        if to_alter:
            await self.admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name, s.config) for s in to_alter]
            )
            changes += [f"{s.name}: configs set {s.config}" for s in to_alter]
        return changes
