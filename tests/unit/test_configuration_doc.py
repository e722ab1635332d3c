"""docs/configuration.md is the settings' own reference: generated from their docstrings."""

from __future__ import annotations

from streamapp.cli.settings import reference
from streamapp.settings import ROOT, Settings


def test_every_setting_has_a_docstring():
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_the_configuration_page_is_what_the_settings_say():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == reference(), "regenerate: streamapp settings --markdown > docs/configuration.md"


def test_the_reference_names_every_setting_once():
    page = reference()
    for name in Settings.model_fields:
        assert page.count(f"`STREAMAPP_{name.upper()}`") == 1, name
