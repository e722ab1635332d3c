"""docs/contracts.md's message examples are valid against the schemas they illustrate."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import orjson
import pytest

from streamapp.contracts.schemas import MESSAGES, load

CONTRACTS = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md").read_text()
EXAMPLES = dict(re.findall(r"<!-- example: ([\w-]+) -->\n```json\n(.*?)\n```", CONTRACTS, re.S))


def test_contracts_doc_shows_an_example_of_every_message():
    assert set(EXAMPLES) == set(MESSAGES)


@pytest.mark.parametrize("message", MESSAGES)
def test_contracts_doc_example_is_valid(message):
    jsonschema.validate(
        orjson.loads(EXAMPLES[message]), load(message), cls=jsonschema.Draft202012Validator
    )
