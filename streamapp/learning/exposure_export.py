"""The live exposure figures as Prometheus gauges: each time the learner's exposure window
closes (:class:`streamapp.recommend.exposure.ExposureWindows`, fed by the streaming attribution's
consumer), its figures replace the last window's. One process exports them — the learner — so
a dashboard or an alert reads one series per tenant and segment, never a sum over workers."""

from __future__ import annotations

from streamapp.ops import metrics
from streamapp.recommend.exposure import ExposureWindows

FIGURES = ("coverage", "gini", "long_tail_share", "new_item_share", "lists")


class ExposureExport:
    """Sets the gauges from each newly completed window."""

    def __init__(self, windows: ExposureWindows) -> None:
        self.windows = windows
        self.exported: tuple[int, int] | None = None

    def step(self) -> bool:
        """Export the last completed window if it is new; whether it was."""
        window, completed = self.windows.window, self.windows.completed
        if window is None or completed is None or window == self.exported:
            return False
        metrics.EXPOSURE.clear()
        metrics.EXPOSURE_DISTANCE.clear()
        for tenant, segments in completed.items():
            for segment, figures in segments.items():
                for figure in FIGURES:
                    metrics.EXPOSURE.labels(tenant, segment, figure).set(figures[figure])
            for attribute in ("category", "brand"):
                shares = segments["all"][attribute]
                for reference in ("catalogue", "interactions"):
                    metrics.EXPOSURE_DISTANCE.labels(tenant, attribute, reference).set(
                        shares[f"distance_to_{reference}"]
                    )
        self.exported = window
        return True
