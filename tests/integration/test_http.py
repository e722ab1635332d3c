"""The worker's HTTP surface: the /v1 API against its OpenAPI contract, health, metrics, lag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import jsonschema
import orjson
import pytest

from streamapp.http import openapi
from tests.support import API_KEY, Tail, now_ms, send, send_clicks, wait_for, write_api_keys

pytestmark = [pytest.mark.integration, pytest.mark.promise]

PATH = "/v1/users/{}/recommendations"
SCHEMATHESIS = Path(sys.executable).parent / "st"


def response_schema() -> dict:
    return openapi.document()["components"]["schemas"]["UserRecommendations"]


async def lists_for_u0_and_u1(deployment, producer) -> str:
    """Four clicks by u0 and u1 (u1 is the document's example user); returns the clicks topic."""
    clicks = deployment.topic("clicks")
    await send_clicks(producer, clicks, 0, 4, users=2, items=3, t=now_ms())
    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "e3" for r in rs))
    return clicks


def refs(node: object) -> list[str]:
    """Every ``$ref`` in a JSON document."""
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def ids(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


async def test_api_serves_lists_by_contract(deployment, producer):
    worker = deployment.worker().start()
    clicks, carts = deployment.topic("clicks"), deployment.topic("carts")
    inventory = deployment.topic("inventory")
    t = now_ms()
    # Clicks a > b > c > d, e; "gone" is popular too but out of stock; u1 buys c.
    await send(
        producer, inventory, "gone", {"event_id": "s", "item_id": "gone", "stock": 0, "ts": t}
    )
    await wait_for(
        lambda: deployment.redis.sismember(deployment.key("default:oos"), "gone"), what="stock-out"
    )
    sequence = ["a", "gone", "a", "b", "gone", "a", "b", "c", "d", "e", "c", "b", "a"]
    for n, item in enumerate(sequence):
        user = f"u{n % 3}"
        event = {"event_id": f"h{n}", "user_id": user, "item_id": item, "ts": t + n}
        await send(producer, clicks, user, event)
    bought = {"event_id": "p1", "user_id": "u1", "item_id": "c", "ts": t + 50, "action": "purchase"}
    async with Tail(deployment.topic("recommendations")) as recs:
        # The purchase waits for u1's last click to be answered: a click and a cart event of
        # one user that share a batch share a list, triggered by whichever came last.
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "h10" for r in rs))
        await send(producer, carts, "u1", bought)
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "p1" for r in rs))
        published = [r for r in recs.records if r["user_id"] == "u1"][-1]

    # A known user: the published list, by contract.
    status, headers, body = worker.request(PATH.format("u1"))
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    jsonschema.validate(body, response_schema())
    assert body["personalised"] is True
    assert body["trigger"] == published["trigger"]
    assert ids(body) == ids(published)[: len(body["items"])]

    # limit cuts, exclude removes, and popularity tops up without repeats, stock-outs or
    # items the user bought.
    top = ids(body)[0]
    cut = worker.get(PATH.format("u1") + f"?limit=2&exclude={quote(top)}")
    assert len(cut["items"]) == 2 and top not in ids(cut)
    assert ids(cut) == [i for i in ids(body) if i != top][:2]
    wide = worker.get(PATH.format("u1") + "?limit=50&exclude=a&exclude=e")
    assert len(ids(wide)) == len(set(ids(wide)))
    assert not {"a", "e", "gone", "c"} & set(ids(wide))
    assert set(ids(wide)) >= {"b", "d"}

    # An unknown user: popularity, and the list says so.
    unknown = worker.get(PATH.format("stranger") + "?limit=3")
    jsonschema.validate(unknown, response_schema())
    assert unknown["personalised"] is False and unknown["source"] == "popular"
    assert ids(unknown) == ["c", "a", "b"]  # c: 2 clicks and a purchase (weight 5); a: 4 clicks
    # Scored in weights (the clicks are milliseconds apart at a day's half-life).
    assert [i["score"] for i in unknown["items"]] == pytest.approx([7.0, 4.0, 3.0], rel=1e-6)
    assert "trigger" not in unknown

    # The served contract is the repository's, with nothing left to fetch elsewhere.
    served = worker.get("/v1/openapi.json")
    assert served["paths"] == openapi.document()["paths"]
    assert all(ref.startswith("#/") for ref in refs(served))


async def test_api_errors_are_problem_details(deployment):
    worker = deployment.worker().start()
    # The tenant header: one the key grants answers (the key's first when left out), any
    # other is a 403 problem.
    assert (
        worker.get(PATH.format("stranger"))
        == worker.request(PATH.format("stranger"), headers={"X-Tenant": "default"})[2]
    )
    status, headers, problem = worker.request(PATH.format("u1"), headers={"X-Tenant": "other"})
    assert (status, headers["Content-Type"]) == (403, "application/problem+json")
    assert problem["type"].endswith("/tenant-not-granted") and problem["status"] == 403

    # Validation: every bad parameter is named in one 400 problem.
    status, _, problem = worker.request(
        PATH.format("u1") + "?limit=0&exclude=" + "&exclude=".join("x" * 51),
        headers={"X-Tenant": "not a tenant!"},
    )
    assert status == 400 and problem["type"].endswith("/invalid-request")
    assert {e["name"] for e in problem["errors"]} == {"limit", "exclude", "X-Tenant"}
    status, _, problem = worker.request(PATH.format("u1") + "?limit=ten")
    assert status == 400 and problem["errors"] == [
        {"name": "limit", "in": "query", "reason": "'ten' is not an integer"}
    ]
    status, _, problem = worker.request(PATH.format("x" * 129))
    assert status == 400 and problem["errors"][0]["name"] == "user_id"

    # The router's own errors are problems too.
    status, headers, problem = worker.request(PATH.format("u1"), method="POST")
    assert status == 405 and headers["Allow"] and problem["status"] == 405
    assert worker.request("/v2/anything")[2]["type"].endswith("/not-found")


async def test_schemathesis_finds_nothing_against_the_live_api(deployment, producer, tmp_path):
    """Property-based requests from the served document, every check schemathesis has."""
    worker = deployment.worker().start()
    await lists_for_u0_and_u1(deployment, producer)
    # The document as served (it is behind a key too); every check, with the key, among
    # them that each route declared secured refuses a request without one (ignored_auth).
    document = tmp_path / "openapi.json"
    document.write_bytes(orjson.dumps(worker.get("/v1/openapi.json")))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            str(document),
            "--url",
            f"http://127.0.0.1:{worker.port}",
            "--header",
            f"Authorization: Bearer {API_KEY}",
            "--checks",
            "all",
            "--max-examples",
            "150",
            "--seed",
            "20261126",
            "--workers",
            "2",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout


async def test_health_metrics_and_lag(deployment, producer):
    worker = deployment.worker().start()
    assert worker.get("/healthz") == {"status": "ok"}
    assert worker.get("/readyz")["status"] == "ready"
    clicks = await lists_for_u0_and_u1(deployment, producer)

    metrics = worker.text("/metrics")
    for name in (
        "streamapp_events_total",
        "streamapp_batch_size_events",
        "streamapp_batch_processing_seconds",
        "streamapp_event_to_publish_seconds",
        "streamapp_lists_published_total",
    ):
        assert name in metrics

    # The lag gauge is read from the broker for every partition the group has committed.
    group = deployment.settings.app_id

    def lag_topics() -> set[str]:
        rows = [
            line
            for line in worker.text("/metrics").splitlines()
            if line.startswith(f'streamapp_consumer_lag_messages{{group="{group}"')
        ]
        return {r.split('topic="')[1].split('"')[0] for r in rows}

    await wait_for(lambda: clicks in lag_topics(), what="lag gauge")


async def test_no_one_reads_a_list_without_a_key_that_grants_its_tenant(deployment, tmp_path):
    """The attacks an API key stops: no key, a made-up key, a key for another shop, a
    brute force of keys, a caller over its rate; the operational pages stay open, without
    error text. Keys are added and revoked without a restart."""
    keys = write_api_keys(tmp_path / "keys.yaml", ("default", "shop2"))
    worker = deployment.worker(
        STREAMAPP_API_KEYS_FILE=str(keys), STREAMAPP_API_RATE_PER_S="2", STREAMAPP_API_BURST="5"
    ).start()
    user = PATH.format("u1")
    for path in (user, "/v1/openapi.json"):
        status, headers, problem = worker.request(path, headers={"Authorization": ""})
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="streamapp"'
        assert headers["Content-Type"] == "application/problem+json"
        assert problem["type"].endswith("/missing-key")
    status, headers, problem = worker.request(user, headers={"Authorization": "Bearer guess"})
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]

    # A brute force of keys from one address is slowed to the key rate: 429, Retry-After.
    guesses = [
        worker.request(user, headers={"Authorization": f"Bearer guess{n}"})[0] for n in range(8)
    ]
    assert 401 in guesses and guesses[-1] == 429

    # shop2's key reads shop2 only.
    shop2_key = "shop2-only-key"
    write_api_keys(tmp_path / "shop2.yaml", ("shop2",), shop2_key)
    both = keys.read_text() + (tmp_path / "shop2.yaml").read_text().replace("tests", "shop2")
    keys.write_text(both)

    def as_shop2(tenant: str | None = None) -> tuple[int, dict[str, str], dict]:
        headers = {"Authorization": f"Bearer {shop2_key}"}
        return worker.request(user, headers=headers | ({"X-Tenant": tenant} if tenant else {}))

    await wait_for(lambda: as_shop2()[0] == 200, what="the new key read without a restart")
    assert as_shop2()[2]["tenant"] == "shop2", "a key's first tenant when X-Tenant is left out"
    status, headers, problem = as_shop2("default")
    assert status == 403 and 'error="insufficient_scope"' in headers["WWW-Authenticate"]

    # Over its rate, a key is told when to come back.
    answers = [as_shop2()[:2] for _ in range(10)]
    limited = [headers for status, headers in answers if status == 429]
    assert limited and int(limited[0]["Retry-After"]) >= 1

    # Revoked: the file without it.
    keys.write_text(both.split("- name: shop2")[0])
    await wait_for(lambda: as_shop2()[0] == 401, what="the key revoked without a restart")

    # Open pages, no error text; every answer counted by route and code.
    assert worker.request("/healthz", headers={"Authorization": ""})[0] == 200
    metrics = worker.text("/metrics")
    route = 'route="/v1/users/{user_id}/recommendations"'
    assert f'streamapp_http_requests_total{{code="401",{route}}}' in metrics
    assert f'streamapp_http_requests_total{{code="429",{route}}}' in metrics
    assert "streamapp_http_request_seconds_bucket" in metrics
