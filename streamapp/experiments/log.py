"""The ``experiments`` topic, read whole by every reader (:mod:`streamapp.ops.compacted`):
each worker holds every experiment, and a new one has them all before it ranks its first
list. A record that is not a valid experiment is left out and the version before it stays in
force; the command that writes experiments refuses to run without the topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamapp.experiments.definition import Experiment, InvalidExperiment, parse
from streamapp.ops import compacted
from streamapp.ops.compacted import CompactedTopic, MissingTopic

__all__ = ["ExperimentLog", "MissingTopic", "publish"]


def _experiment(key: str, document: Any) -> Experiment:
    experiment = parse(document)
    if experiment.experiment_id != key:
        raise InvalidExperiment(f"keyed {key!r}, not its id")
    return experiment


class ExperimentLog(CompactedTopic[Experiment]):
    """Every experiment of the topic by id, kept current by :meth:`poll`."""

    def __init__(self, kafka: Mapping[str, Any], topic: str, client_id: str) -> None:
        super().__init__(kafka, topic, client_id, _experiment, "experiment")

    @property
    def experiments(self) -> dict[str, Experiment]:
        return self.definitions

    def running(self) -> list[Experiment]:
        return [e for e in self.definitions.values() if e.running]


async def publish(kafka: Mapping[str, Any], topic: str, document: dict[str, Any]) -> None:
    """Write one experiment's record (keyed by its id), acknowledged by every replica."""
    await compacted.publish(kafka, topic, document["experiment_id"], document)
