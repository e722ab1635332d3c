"""HTTP on the worker: the latest list of a user, health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from streamapp.store import Store


def register(app: faust.App, store: Store, top_k: int, model_version: str) -> None:
    """Add streamapp's pages to the worker's web server."""
    register_operations(app, store)

    @app.page("/v1/users/{user_id}/recommendations")
    class UserRecommendations(View):
        """Last published list; popularity fallback (``source: popular``) for unknown users."""

        async def get(self, request: Request, user_id: str) -> Response:
            tenant = request.headers.get("X-Tenant", request.query.get("tenant", "default"))
            current = await store.current_list(tenant, user_id)
            if current is not None:
                return self.json(current)
            popular = await store.popular(tenant, top_k)
            fallback: dict[str, Any] = {
                "user_id": user_id,
                "tenant": tenant,
                "items": [{"item_id": i, "score": s, "source": "popular"} for i, s in popular],
                "model_version": model_version,
                "source": "popular",
            }
            return self.json(fallback)


def register_operations(app: faust.App, store: Store) -> None:
    """Health, readiness and metrics: every streamapp process serves these."""

    @app.page("/healthz")
    class Health(View):
        """Alive: the event loop answers."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(View):
        """Ready: Redis answers and the consumer has partitions assigned."""

        async def get(self, request: Request) -> Response:
            try:
                await store.redis.ping()
            except Exception as exc:
                return self.json({"status": "redis unavailable", "error": str(exc)}, status=503)
            assigned = len(app.consumer.assignment()) if app.consumer else 0
            if not assigned:
                return self.json({"status": "no partitions assigned"}, status=503)
            return self.json({"status": "ready", "partitions": assigned})

    @app.page("/metrics")
    class Metrics(View):
        """Prometheus exposition of the default registry."""

        async def get(self, request: Request) -> Response:
            # aiohttp refuses a charset inside content_type, which CONTENT_TYPE_LATEST has.
            return self.bytes(generate_latest(), content_type="text/plain; version=0.0.4")
