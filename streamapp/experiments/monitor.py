"""Running experiments watched as they run: every :meth:`ExperimentMonitor.poll` takes a look
at each (the comparisons of :func:`.report.look`, on the streaming attribution) and exports it
to Prometheus, so a dashboard can be read every minute without inflating false positives (the
p-values are always valid). A canary rollout decides on the same looks.
"""

from __future__ import annotations

from streamapp.brokers import kafka_options
from streamapp.clock import now_ms
from streamapp.experiments.definition import Experiment
from streamapp.experiments.log import ExperimentLog
from streamapp.experiments.report import Look, decide, look
from streamapp.experiments.statistics import srm_p_value
from streamapp.experiments.stream import ExposureSink, StreamingAttribution
from streamapp.ops import metrics
from streamapp.settings import Settings

__all__ = ["ExperimentMonitor"]


class ExperimentMonitor:
    """The experiments topic and the streaming attribution, looked at on every poll."""

    def __init__(self, settings: Settings, exposure: ExposureSink | None = None) -> None:
        self.log = ExperimentLog(
            kafka_options(settings), settings.topic("experiments"), f"{settings.app_id}-monitor"
        )
        self.stream = StreamingAttribution(
            settings, int(settings.attribution_window_s * 1000), exposure=exposure
        )
        # With the live exposure figures, records from one exposure window back: the first
        # window closes with a full one's lists.
        self.lookback_ms = int(settings.exposure_window_s * 1000) if exposure else 0
        self.looks: dict[str, Look] = {}
        self.exported: dict[str, Experiment] = {}

    async def start(self) -> None:
        """Read the experiments, then the records from the earliest running one's start."""
        await self.log.start()
        now = now_ms()
        starts = [e.document.get("started_at") or now for e in self.log.running()]
        if self.lookback_ms:
            starts.append(now - self.lookback_ms)
        await self.stream.start(min(starts, default=now))

    async def stop(self) -> None:
        await self.stream.stop()
        await self.log.stop()

    def running(self) -> dict[str, Experiment]:
        return {e.experiment_id: e for e in self.log.running()}

    async def poll(self) -> None:
        """Take in both topics, then look at every running experiment."""
        await self.log.poll()
        await self.stream.poll()
        running = self.running()
        for gone in set(self.exported) - set(running):
            self._unexport(self.exported.pop(gone))
            self.looks.pop(gone, None)
            self.stream.attribution.forget(gone)
        for experiment_id, experiment in running.items():
            last = look(
                experiment,
                self.stream.attribution,
                self.stream.watermark,
                self.looks.get(experiment_id),
            )
            self.looks[experiment_id] = last
            self._export(experiment, last)

    def decision(self, experiment_id: str) -> tuple[str, str | None]:
        """The report's decision at the latest look (``continue`` before the first)."""
        experiment = self.running().get(experiment_id)
        last = self.looks.get(experiment_id)
        if experiment is None or last is None:
            return "continue", None
        decision, blocked_by, _ = decide(experiment, last)
        return decision, blocked_by

    def _export(self, experiment: Experiment, last: Look) -> None:
        name = experiment.experiment_id
        self.exported[name] = experiment
        for v in experiment.variants:
            metrics.EXPERIMENT_USERS.labels(name, v.name).set(last.users[v.name])
        for (metric, variant), value in last.values.items():
            metrics.EXPERIMENT_VALUE.labels(name, variant, metric).set(value)
        for (metric, variant), comparison in last.comparisons.items():
            metrics.EXPERIMENT_P_VALUE.labels(name, variant, metric).set(comparison.p_value)
        shares = [v.share for v in experiment.variants]
        srm = srm_p_value([last.users[v.name] for v in experiment.variants], shares)
        metrics.EXPERIMENT_SRM.labels(name).set(srm)

    def _unexport(self, experiment: Experiment) -> None:
        """A stopped experiment leaves the dashboard."""
        name = experiment.experiment_id
        last = self.looks.get(name)
        for v in experiment.variants:
            metrics.EXPERIMENT_USERS.remove(name, v.name)
        if last is not None:
            for metric, variant in last.values:
                metrics.EXPERIMENT_VALUE.remove(name, variant, metric)
            for metric, variant in last.comparisons:
                metrics.EXPERIMENT_P_VALUE.remove(name, variant, metric)
        metrics.EXPERIMENT_SRM.remove(name)
