from __future__ import annotations

import jsonschema
import orjson
import pytest

from streamapp.contracts.events import InvalidEvent, Record
from streamapp.contracts.messages import (
    SOURCES,
    dead_letter,
    item_entry,
    item_fragment,
    recommendation_head,
    refresh,
    trigger,
)
from streamapp.contracts.schemas import MESSAGES, contract, load


@pytest.mark.parametrize("message", MESSAGES)
def test_schema_is_valid_draft_2020_12_and_its_examples_pass(message):
    schema = load(message)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["examples"]
    for example in schema["examples"]:
        jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)
        assert contract(message).is_valid(example)


RECORD = Record("clicks", 3, 42, b"u1", b"\xff not json", 1_700_000_000_000)


def test_stored_source_codes_cover_every_source_an_item_can_have():
    item = load("recommendation")["properties"]["items"]["items"]
    assert list(SOURCES) == item["properties"]["source"]["enum"]


def test_built_recommendation_follows_its_contract():
    head = recommendation_head(
        "default",
        "u1",
        1_700_000_000_100,
        "v1",
        "control",
        trigger(RECORD, "e1", 1_700_000_000_000, "interaction"),
    )
    body = head + item_fragment(item_entry("i1", 0.25, "covisit")) + '],"source":"covisit"}'
    jsonschema.validate(orjson.loads(body), load("recommendation"))


def test_built_dead_letter_and_refresh_follow_their_contracts():
    error = InvalidEvent("malformed_json", "bad", None, None)
    jsonschema.validate(orjson.loads(dead_letter(RECORD, error, 1)), load("dead-letter"))
    jsonschema.validate(orjson.loads(refresh("default", "u1", "i1", "e", 1)), load("refresh"))
