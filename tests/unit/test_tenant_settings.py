"""Per-tenant settings from STREAMAPP_TENANT_SETTINGS_FILE: each tenant's own over the
deployment's, and a file that names what does not exist refused at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streamapp.settings import Settings


def settings(tmp_path, text: str) -> Settings:
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    return Settings(tenants=("default", "shop2"), tenant_settings_file=str(path))


def test_a_tenant_sets_what_it_names_and_keeps_the_rest(tmp_path):
    loaded = settings(
        tmp_path,
        "shop2:\n  score_weights: {popular: 5, recent: 0}\n  exploration: 0.1\n"
        "  learned_ranker: false\n  objective: purchase\n  sensitive_categories: [alcohol]\n",
    )
    shop2, default = loaded.of_tenant("shop2"), loaded.of_tenant("default")
    assert shop2.score_weights == {**loaded.score_weights, "popular": 5.0, "recent": 0.0}
    assert (shop2.exploration, shop2.learned_ranker) == (0.1, False)
    assert (shop2.objective, shop2.sensitive_categories) == ("purchase", ("alcohol",))
    assert (default.objective, default.sensitive_categories) == ("engagement", ())
    assert default.score_weights == loaded.score_weights
    assert (default.exploration, default.learned_ranker) == (0.0, True)
    assert loaded.of_tenant("shop2") is shop2, "resolved once"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("elsewhere: {exploration: 0.1}\n", "not in STREAMAPP_TENANTS"),
        ("shop2: {objective: revenue}\n", "objective"),
        ("shop2: {exploration: 2}\n", "exploration"),
        ("shop2: [1, 2]\n", "shop2"),
        ("- shop2\n", "a mapping"),
        ("shop2: {score_weights: {popular: many}}\n", "score_weights"),
        ("shop2: {\n", "cannot be read"),
    ],
)
def test_a_file_naming_what_does_not_exist_is_refused(tmp_path, text, says):
    with pytest.raises(ValidationError, match=says):
        settings(tmp_path, text)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(tenant_settings_file=str(tmp_path / "nowhere.yaml"))
