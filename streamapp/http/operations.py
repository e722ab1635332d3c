"""The operational pages every streamapp process serves: health, readiness, metrics.

The worker's ``/v1`` API is :mod:`streamapp.http.api`."""

from __future__ import annotations

import faust
from faust.web import Request, Response, View
from prometheus_client import generate_latest
from redis.exceptions import RedisError

from streamapp.http.api import view_problem
from streamapp.http.health import Health
from streamapp.state.store import Store


def register_operations(app: faust.App, store: Store, health: Health) -> None:
    """Health, readiness and metrics: every streamapp process serves these."""

    @app.page("/healthz")
    class Alive(View):
        """Alive: the event loop answers."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(View):
        """Ready: no agent is stalled on a failing batch, Redis answers and the consumer has
        partitions assigned."""

        async def get(self, request: Request) -> Response:
            # What is wrong is named, never its error text (the log has it): these pages
            # are open to anyone who can reach the port.
            if health.problem() is not None:
                detail = "an agent is stalled on a failing batch (see the log)"
                return view_problem(request, 503, "not-ready", "Not ready", detail)
            try:
                await store.redis.ping()
            except RedisError:
                detail = "redis does not answer (see the log)"
                return view_problem(request, 503, "not-ready", "Not ready", detail)
            assigned = len(app.consumer.assignment()) if app.consumer else 0
            if not assigned:
                detail = "no partitions assigned"
                return view_problem(request, 503, "not-ready", "Not ready", detail)
            return self.json({"status": "ready", "partitions": assigned})

    @app.page("/metrics")
    class Metrics(View):
        """Prometheus exposition of the default registry."""

        async def get(self, request: Request) -> Response:
            # aiohttp refuses a charset inside content_type, which CONTENT_TYPE_LATEST has.
            return self.bytes(generate_latest(), content_type="text/plain; version=0.0.4")
