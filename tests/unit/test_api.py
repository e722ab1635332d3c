"""The HTTP contract without a server: parameter parsing and the list a user is answered with."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from multidict import CIMultiDict

from streamapp.http.api import answer
from streamapp.http.openapi import InvalidRequest, Operation, document
from streamapp.recommend.rules import Rule, parse
from streamapp.state.store import ServingView

OP = Operation(document(), "/v1/users/{user_id}/recommendations", "get")
LISTED = {
    "user_id": "u",
    "tenant": "default",
    "items": [
        {"item_id": "a", "score": 3.0, "source": "recent"},
        {"item_id": "b", "score": 2.0, "source": "covisit"},
        {"item_id": "c", "score": 1.0, "source": "mf"},
    ],
    "source": "recent",
    "model_version": "m1",
    "variant": "control",
    "generated_at": 5,
    "trigger": {
        "event_id": "e",
        "topic": "clicks",
        "partition": 0,
        "offset": 1,
        "event_ts": 4,
        "input_ts": 5,
        "reason": "interaction",
    },
}


def test_the_served_document_is_a_valid_openapi_3_1_document_with_its_references_resolved():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    items = doc["components"]["schemas"]["UserRecommendations"]["properties"]["items"]
    assert items["type"] == "array" and "$ref" not in items
    assert "$schema" not in str(items)


def test_parameters_are_typed_and_headers_match_in_any_case():
    args = OP.parse(
        {"user_id": "u1"}, {"limit": ["7"], "exclude": ["a"]}, CIMultiDict({"x-tenant": "shop"})
    )
    assert args == {"user_id": "u1", "limit": 7, "exclude": ["a"], "X-Tenant": "shop"}
    assert OP.parse({"user_id": "u1"}, {}, {}) == {"user_id": "u1"}


@pytest.mark.parametrize(
    ("query", "headers", "reasons"),
    [
        ({"limit": ["101"]}, {}, {"limit": "101 is greater than the maximum of 100"}),
        ({"limit": ["1", "2"]}, {}, {"limit": "given more than once"}),
        ({"limit": [" 5"]}, {}, {"limit": "' 5' is not an integer"}),
        ({"exclude": [""]}, {}, {"exclude": '"" is shorter than 1 character'}),
        ({}, {"X-Tenant": "a b"}, {"X-Tenant": '"a b" does not match "^[A-Za-z0-9_-]{1,64}$"'}),
    ],
)
def test_each_broken_parameter_is_named_with_its_reason(query, headers, reasons):
    with pytest.raises(InvalidRequest) as caught:
        OP.parse({"user_id": "u1"}, query, headers)
    assert {e.name: e.reason for e in caught.value.errors} == reasons


def test_a_missing_path_parameter_is_reported_not_raised_as_a_key_error():
    with pytest.raises(InvalidRequest, match="user_id \\(path\\): is required"):
        OP.parse({}, {}, {})


def test_a_known_user_gets_the_list_cut_excluded_and_topped_up_without_repeats():
    seen = view(LISTED, [("b", 9.0), ("d", 4.0), ("e", 1.0)])
    out = answer("u", "default", seen, {"a"}, 4, "m2", ("", "v"))
    assert [(i["item_id"], i["source"]) for i in out["items"]] == [
        ("b", "covisit"),
        ("c", "mf"),
        ("d", "popular"),
        ("e", "popular"),
    ]
    assert out["source"] == "covisit" and out["personalised"] is True
    # The list's own version and trigger, not the worker's current model.
    assert (out["model_version"], out["trigger"], out["generated_at"]) == (
        "m1",
        LISTED["trigger"],
        5,
    )
    jsonschema.validate(out, document()["components"]["schemas"]["UserRecommendations"])


def test_an_unknown_user_gets_popularity_and_an_empty_shop_says_empty():
    out = answer("x", "default", view(None, [("d", 4.0), ("e", 1.0)]), (), 1, "m2", ("", "v"))
    assert out["items"] == [{"item_id": "d", "score": 4.0, "source": "popular"}]
    assert (out["personalised"], out["source"], out["model_version"]) == (False, "popular", "m2")
    assert "trigger" not in out
    empty = answer("x", "default", view(None, []), (), 10, "m2", ("", "v"))
    assert (empty["items"], empty["source"]) == ([], "empty")
    jsonschema.validate(empty, document()["components"]["schemas"]["UserRecommendations"])


def test_a_list_keeps_the_experiment_it_was_made_in_and_an_older_list_gets_the_users():
    made_in = {**LISTED, "experiment": "ranker-1", "variant": "treated"}
    out = answer("u", "default", view(made_in, []), (), 4, "m2", ("ranker-2", "control"))
    assert (out["experiment"], out["variant"]) == ("ranker-1", "treated")
    older = {k: v for k, v in LISTED.items() if k not in ("experiment", "variant")}
    out = answer("u", "default", view(older, []), (), 4, "m2", ("ranker-2", "control"))
    assert (out["experiment"], out["variant"]) == ("ranker-2", "control")
    jsonschema.validate(out, document()["components"]["schemas"]["UserRecommendations"])


def view(current: dict[str, Any] | None, popular: list[tuple[str, float]]) -> ServingView:
    return ServingView(current, popular, set(), {})


def rule(**fields: Any) -> Rule:
    return parse({"tenant": "default", "author": "ana", "reason": "r", "ts": 1, **fields})


def test_rules_reach_what_the_api_serves():
    block = rule(rule_id="recall", action="block", target={"item_id": "b"})
    out = answer("u", "default", view(LISTED, [("d", 4.0)]), (), 4, "m2", ("", "v"), [block])
    assert "b" not in [i["item_id"] for i in out["items"]]
    # A user without a list: the popular list with the fallback's pins and boosts, blocks and
    # what cannot be shown left out.
    pinned = rule(rule_id="hero", action="pin", target={"item_id": "p"}, position=1)
    gone = rule(rule_id="gone", action="pin", target={"item_id": "q"}, position=2)
    acme = rule(rule_id="acme", action="boost", target={"brand": "acme"}, factor=10.0)
    popular = [("d", 4.0), ("e", 1.0), ("b", 0.5)]
    seen = ServingView(None, popular, {"q"}, {"e": (None, "acme")})
    out = answer("x", "default", seen, (), 3, "m2", ("", "v"), [block, pinned, gone, acme])
    assert [(i["item_id"], i.get("rules")) for i in out["items"]] == [
        ("p", ["hero"]),
        ("e", ["acme"]),
        ("d", None),
    ]
    jsonschema.validate(out, document()["components"]["schemas"]["UserRecommendations"])
