"""The versioned HTTP API (``/v1``): a user's current list, and errors as problem details.

The contract is ``schemas/openapi.v1.yaml`` (served at ``/v1/openapi.json``); requests are
checked against it by :mod:`streamapp.http.openapi`. Every error anywhere on the worker's HTTP port
— a bad parameter, an unknown path or tenant, a method the path does not have, Redis gone — is
``application/problem+json`` (RFC 9457), so clients parse one error shape.

>>> listed = {"user_id": "u", "tenant": "t", "items": [
...     {"item_id": "a", "score": 3.0, "source": "recent"},
...     {"item_id": "b", "score": 2.0, "source": "covisit"}],
...     "source": "recent", "model_version": "m1", "variant": "control"}
>>> out = answer("u", "t", listed, [("a", 9.0), ("c", 5.0)], {"a"}, 2, "m2", ("", "control"))
>>> [(i["item_id"], i["source"]) for i in out["items"]], out["source"], out["personalised"]
([('b', 'covisit'), ('c', 'popular')], 'covisit', True)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, cast

import faust
import orjson
from aiohttp import web
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from streamapp.clock import now_ms
from streamapp.contracts.messages import Ranked, item_entry
from streamapp.experiments.assignment import assign, labels, treatment_of
from streamapp.experiments.definition import Experiment
from streamapp.http import openapi
from streamapp.http.openapi import InvalidRequest, Operation
from streamapp.learning.serving import ServingModel
from streamapp.recommend.rules import Rule, in_force, rank_with
from streamapp.recommend.scoring import top_up
from streamapp.settings import Settings
from streamapp.state.store import ServingView, Store

log = logging.getLogger(__name__)

PROBLEM_TYPES = "https://streamapp.dev/problems/"
# The longest valid request: 50 excluded ids of 128 four-byte characters, percent-encoded.
MAX_REQUEST_LINE = 128 * 1024
LIST_FIELDS = ("model_version", "generated_at", "trigger")
# A list names the experiments it was made in, and its variants, together (older lists neither).
LABELS = ("experiment", "variant")


def answer(
    user_id: str,
    tenant: str,
    view: ServingView,
    exclude: Collection[str],
    limit: int,
    model_version: str,
    experiment: tuple[str, str],
    rules: Sequence[Rule] = (),
) -> dict[str, Any]:
    """The user's list minus excluded and blocked items, cut to ``limit``, topped up from
    popularity.

    ``view.current`` is the last published list (already without items out of stock since,
    and with the rules in force when it was made); a user without one gets popularity with the
    ``fallback`` rules in force (``rules``), and ``personalised`` says which case this is.
    ``source`` is the source of the top item, as on the topic. ``experiment`` is the user's
    (experiment, variant) labels, for a user whose list does not carry them.
    """
    current, kinds = view.current, view.kinds
    blocks = [r for r in rules if r.action == "block"]

    def shown(item_id: str) -> bool:
        return item_id not in exclude and not any(b.matches(item_id, kinds) for b in blocks)

    popular = [(item, score) for item, score in view.popular if shown(item)]
    if current is None:
        fallback = [r for r in rules if "fallback" in r.scope]
        ranked = [Ranked(item, score, "popular") for item, score in popular]
        unavailable = view.unavailable | set(exclude)
        items = [
            item_entry(r.item_id, r.score, r.source, r.rules)
            for r in rank_with(ranked, fallback, kinds, unavailable, limit)
        ]
    else:
        items = [i for i in current.get("items", []) if shown(i["item_id"])][:limit]
        extra = top_up((i["item_id"] for i in items), popular, exclude, limit - len(items))
        items += [item_entry(i, score, "popular") for i, score in extra]
    out: dict[str, Any] = {
        "user_id": user_id,
        "tenant": tenant,
        "items": items,
        "source": items[0]["source"] if items else "empty",
        "personalised": current is not None,
        "model_version": model_version,
        "experiment": experiment[0],
        "variant": experiment[1],
    }
    if current is not None:
        out.update({k: current[k] for k in LIST_FIELDS if k in current})
        if all(k in current for k in LABELS):
            out.update({k: current[k] for k in LABELS})
    return out


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    errors: Sequence[openapi.ParameterError] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPES + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = [{"name": e.name, "in": e.where, "reason": e.reason} for e in errors]
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def view_problem(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: Sequence[openapi.ParameterError] = (),
) -> Response:
    """:func:`problem` from inside a Faust view (typed with Faust's abstract request and
    response; the aiohttp driver hands in and takes back aiohttp's)."""
    path = cast(web.Request, request).path
    return cast(Response, problem(status, slug, title, detail, path, errors))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own errors (404, 405, ...) and crashes into problem details."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        slug = exc.reason.lower().replace(" ", "-")
        detail = f"{request.method} {request.path}: {exc.reason}"
        return problem(exc.status, slug, exc.reason, detail, request.path, headers=allow)
    except RedisError as exc:
        log.warning("http %s: redis unavailable: %s", request.path, exc)
        return problem(
            503,
            "state-unavailable",
            "State store unavailable",
            str(exc),
            request.path,
            headers={"Retry-After": "1"},
        )
    except Exception:
        log.exception("http %s failed", request.path)
        return problem(500, "internal", "Internal error", "see the worker log", request.path)


def register(
    app: faust.App,
    settings: Settings,
    store: Store,
    model: ServingModel,
    experiments: Callable[[], list[Experiment]] = list,
    rules: Callable[[], Iterable[Rule]] = tuple,
) -> None:
    """Add the ``/v1`` pages to the worker's web server; ``experiments`` gives the running
    ones, which name the variant of a user without a list as the worker would; ``rules``
    every merchandising rule, which the API applies to what it serves."""
    contract = openapi.document()
    recommendations = Operation(contract, "/v1/users/{user_id}/recommendations", "get")
    served = {**contract, "servers": [{"url": f"http://{settings.web_host}:{settings.web_port}"}]}

    @app.page("/v1/users/{user_id}/recommendations")
    class UserRecommendations(View):
        """The current list of a user; popularity for a user without one."""

        async def get(self, request: Request, user_id: str) -> Response:
            raw_query = cast(web.Request, request).query
            query = {k: raw_query.getall(k) for k in raw_query}
            try:
                args = recommendations.parse({"user_id": user_id}, query, request.headers)
            except InvalidRequest as exc:
                return view_problem(
                    request, 400, "invalid-request", "Invalid request", str(exc), exc.errors
                )
            tenant = args.get("X-Tenant", "default")
            if tenant not in settings.tenants:
                detail = f"tenant {tenant!r} is not served here"
                return view_problem(request, 404, "unknown-tenant", "Unknown tenant", detail)
            limit = args.get("limit", settings.top_k)
            exclude = args.get("exclude", [])
            # Blocks are in every scope; the other rules of a user's own list were applied
            # when the worker made it.
            sensitive = settings.of_tenant(tenant).sensitive_categories
            ruled = in_force(rules(), tenant, now_ms(), "fallback", sensitive)
            pinned = [r.value for r in ruled if r.action == "pin"]
            view = await store.serving_view(
                tenant, user_id, limit + settings.top_k, exclude, pinned
            )
            assignment = assign(experiments(), tenant, user_id)
            served = model.served(treatment_of(assignment).model, tenant)
            version = served.version if served else settings.model_version
            body = answer(
                user_id,
                tenant,
                view,
                set(exclude),
                limit,
                version,
                labels(assignment, settings.experiment_variant),
                ruled,
            )
            return self.json(body)

    @app.page("/v1/openapi.json")
    class OpenApi(View):
        """The contract, bundled (no external references)."""

        async def get(self, request: Request) -> Response:
            return self.json(served)
