"""API keys: the file's checks, its reload, the constant-time lookup and the token buckets."""

from __future__ import annotations

import hashlib
import os

import pytest
import yaml

from streamapp.cli.main import main
from streamapp.http import keys
from streamapp.http.keys import Buckets, InvalidKeys, KeyFile, KeyRing
from streamapp.settings import get_settings

TENANTS = ("default", "shop2")


def entry(name: str, key: str, tenants: list[str]) -> dict:
    return {"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "tenants": tenants}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"name": "x"}, "a list of entries"),
        ([{"name": "x", "sha256": "00" * 32}], "name, sha256 and tenants"),
        ([entry("x", "k", ["default"]), entry("x", "j", ["default"])], "a name of its own"),
        ([{**entry("x", "k", ["default"]), "sha256": "abc"}], "64 digits"),
        ([{**entry("x", "k", ["default"]), "key": "k"}], "nothing else"),
        ([entry("x", "k", [])], "at least one"),
        ([entry("x", "k", ["elsewhere"])], "not served here"),
    ],
)
def test_a_key_file_that_cannot_be_used_is_refused_with_the_reason(document, says):
    with pytest.raises(InvalidKeys, match=says):
        KeyRing.parse(document, TENANTS)


def test_a_key_is_found_by_its_digest_and_only_by_it():
    ring = KeyRing.parse(
        [entry("a", "alpha", ["default"]), entry("b", "beta", list(TENANTS))], TENANTS
    )
    assert ring.find("beta").tenants == ("default", "shop2")
    assert ring.find("alpha").name == "a"
    assert ring.find("alph") is None and ring.find("") is None
    assert ring.find(hashlib.sha256(b"alpha").hexdigest()) is None, "the digest is no key"


def test_the_file_is_read_again_when_it_changes_and_a_broken_one_keeps_the_last(
    tmp_path, monkeypatch
):
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump([entry("a", "alpha", ["default"])]))
    monkeypatch.setattr(keys, "LOOK_EVERY_S", 0.0)
    file = KeyFile(str(path), TENANTS)
    assert file.current().find("alpha") is not None
    path.write_text(yaml.safe_dump([entry("b", "beta", ["shop2"])]))
    os.utime(path, (1, 1))  # a change the clock's resolution could hide
    assert file.current().find("alpha") is None and file.current().find("beta") is not None
    path.write_text("- {")
    os.utime(path, (2, 2))
    assert file.current().find("beta") is not None, "the last good keys stay"
    with pytest.raises(InvalidKeys, match="cannot be read"):
        KeyFile(str(path), TENANTS)


def test_no_file_means_no_key():
    assert KeyFile("", TENANTS).current().find("anything") is None


def test_a_bucket_refills_at_its_rate_and_forgets_the_idlest_callers():
    buckets = Buckets(rate=2.0, burst=2, callers=2)
    assert [buckets.wait("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert buckets.wait("a", 0.5) == 0.0, "one token back after half a second"
    assert buckets.wait("b", 0.5) == 0.0 and buckets.wait("c", 0.5) == 0.0
    assert "a" not in buckets.buckets, "the idlest forgotten: back with a full bucket"


def test_api_key_new_writes_a_key_the_file_grants_and_a_second_replaces_the_first(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("STREAMAPP_TENANTS", '["default", "shop2"]')
    get_settings.cache_clear()
    key_file, key_out = tmp_path / "keys" / "api-keys.yaml", tmp_path / "key"
    issued = []
    for _ in range(2):
        argv = ["api-key", "new", "--name", "shop", "--all-tenants"]
        assert main([*argv, "--file", str(key_file), "--key-out", str(key_out)]) == 0
        issued.append(key_out.read_text().strip())
    assert main(["api-key", "new", "--name", "other", "--file", str(key_file)]) == 0
    get_settings.cache_clear()
    ring = KeyFile(str(key_file), TENANTS).current()
    granted = ring.find(issued[1])
    assert granted is not None and granted.tenants == TENANTS
    assert ring.find(issued[0]) is None  # the rotated key is gone
    assert [k.name for k in ring.keys] == ["shop", "other"]
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_api_key_new_refuses_to_write_into_a_file_a_worker_would_refuse(tmp_path, capsys):
    key_file = tmp_path / "api-keys.yaml"
    key_file.write_text(yaml.safe_dump([{"name": "x", "sha256": "abc", "tenants": ["default"]}]))
    assert main(["api-key", "new", "--name", "shop", "--file", str(key_file)]) == 2
    assert "64 digits" in capsys.readouterr().err
    assert "shop" not in key_file.read_text()
