"""The versioned HTTP API (``/v1``): a user's current list, and errors as problem details.

The contract is ``schemas/openapi.v1.yaml`` (served at ``/v1/openapi.json``); requests are
checked against it by :mod:`streamapp.http.openapi`, and every ``/v1`` request carries an API key
(:class:`Guard`, :mod:`.keys`). Every error anywhere on the worker's HTTP port — no key, a bad
parameter, an unknown path, a tenant the key does not grant, a method the path does not have,
Redis gone — is ``application/problem+json`` (RFC 9457), so clients parse one error shape.

>>> listed = {"user_id": "u", "tenant": "t", "items": [
...     {"item_id": "a", "score": 3.0, "source": "recent"},
...     {"item_id": "b", "score": 2.0, "source": "covisit"}],
...     "source": "recent", "model_version": "m1", "variant": "control"}
>>> view = ServingView(listed, [("a", 9.0), ("c", 5.0)], set(), {})
>>> out = answer("u", "t", view, {"a"}, 2, "m2", ("", "control"))
>>> [(i["item_id"], i["source"]) for i in out["items"]], out["source"], out["personalised"]
([('b', 'covisit'), ('c', 'popular')], 'covisit', True)
"""

from __future__ import annotations

import logging
import math
import time
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
from streamapp.http.keys import ApiKey, Buckets, KeyFile
from streamapp.http.openapi import InvalidRequest, Operation
from streamapp.learning.serving import ServingModel
from streamapp.ops import metrics
from streamapp.recommend.rules import Rule, by_attribute, in_force, rank_with
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
# Where the guard leaves the request's API key for the view.
API_KEY = "streamapp.api_key"


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
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


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
            "the state store does not answer; try again (the worker's log says why)",
            request.path,
            headers={"Retry-After": "1"},
        )
    except Exception:
        log.exception("http %s failed", request.path)
        return problem(500, "internal", "Internal error", "see the worker log", request.path)


@web.middleware
async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answer by route template and status code, and time it (outermost, so
    refusals and errors count too)."""
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.HTTP_REQUESTS.labels(route, str(code)).inc()
        metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


class Guard:
    """Every ``/v1`` request carries an API key (:mod:`.keys`): 401 without one or with one
    nobody issued, 429 over the key's rate (and over the address's, for wrong keys: a brute
    force is slowed to the same pace). The key rides on the request for the view, which
    answers 403 for a tenant the key does not grant."""

    def __init__(self, settings: Settings) -> None:
        self.keys = KeyFile(settings.api_keys_file, settings.tenants)
        self.callers = Buckets(settings.api_rate_per_s, settings.api_burst)
        self.addresses = Buckets(settings.api_rate_per_s, settings.api_burst)
        if not self.keys.current().keys:
            log.warning("no API keys (STREAMAPP_API_KEYS_FILE): /v1 answers nobody")

    @web.middleware
    async def check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The middleware (a bound method, which aiohttp takes as a new-style one)."""
        if not request.path.startswith("/v1/"):
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return refused(request, "missing-key", "an API key is needed: Authorization: Bearer")
        key = self.keys.current().find(token.strip())
        now = time.monotonic()
        if key is None:
            wait = self.addresses.wait(request.remote or "", now)
            if wait:
                return too_many(request, wait, "too many requests with unknown keys")
            return refused(request, "unknown-key", "this API key is not known here")
        wait = self.callers.wait(key.name, now)
        if wait:
            return too_many(request, wait, f"API key {key.name!r} is over its rate")
        request[API_KEY] = key
        return await handler(request)


def refused(request: web.Request, slug: str, detail: str) -> web.Response:
    """401, with the challenge RFC 6750 asks for."""
    challenge = 'Bearer realm="streamapp"'
    if slug == "unknown-key":
        challenge += ', error="invalid_token"'
    headers = {"WWW-Authenticate": challenge}
    return problem(401, slug, "Unauthorized", detail, request.path, headers=headers)


def too_many(request: web.Request, wait: float, detail: str) -> web.Response:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    return problem(
        429, "too-many-requests", "Too many requests", detail, request.path, headers=headers
    )


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
            key: ApiKey = cast(web.Request, request)[API_KEY]
            tenant = args.get("X-Tenant", key.tenants[0])
            if tenant not in key.tenants:
                detail = f"API key {key.name!r} does not grant tenant {tenant!r}"
                return cast(
                    Response,
                    problem(
                        403,
                        "tenant-not-granted",
                        "Forbidden",
                        detail,
                        cast(web.Request, request).path,
                        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
                    ),
                )
            limit = args.get("limit", settings.top_k)
            exclude = args.get("exclude", [])
            # Blocks are in every scope; the other rules of a user's own list were applied
            # when the worker made it.
            sensitive = settings.of_tenant(tenant).sensitive_categories
            ruled = in_force(rules(), tenant, now_ms(), "fallback", sensitive)
            pinned = [r.value for r in ruled if r.action == "pin"]
            view = await store.serving_view(
                tenant, user_id, limit + settings.top_k, exclude, pinned, by_attribute(ruled)
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
