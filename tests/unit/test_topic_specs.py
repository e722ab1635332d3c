"""Topic declarations as the cluster is asked to hold them: an environment's replication
overlay applied to every topic, and a file that is no declaration refused with its name."""

from __future__ import annotations

import pytest

from streamapp.errors import UsageError
from streamapp.ops.acls import grants
from streamapp.ops.topics import load_specs
from streamapp.settings import Settings


def test_an_environment_raises_every_topics_replication_and_min_insync_replicas():
    declared = {s.name: s for s in load_specs(Settings())}
    production = load_specs(Settings(topic_replication_factor=3, topic_min_insync_replicas=2))
    assert all(s.replication_factor == 3 for s in production)
    assert all(s.config["min.insync.replicas"] == "2" for s in production)
    assert all(s.config.items() >= declared[s.name].config.items() for s in production)


def test_a_yaml_file_that_is_no_declaration_is_refused_by_name(tmp_path):
    (tmp_path / "api-keys.yaml").write_text("- name: k\n  sha256: ab\n")
    with pytest.raises(UsageError, match=r"api-keys\.yaml: not a topic declaration"):
        load_specs(Settings(topics_dir=tmp_path))


def test_every_topic_names_who_writes_and_reads_it_and_no_unknown_role(tmp_path):
    specs = load_specs(Settings())
    assert all(s.writers and s.readers for s in specs)
    by_name = {s.name: s for s in specs}
    # Only the shop's systems write what the shop knows; only streamapp writes the lists.
    assert by_name["inventory"].writers == ("shop",)
    assert by_name["recommendations"].writers == ("streamapp",)
    (tmp_path / "clicks.yaml").write_text(
        "name: clicks\npartitions: 1\nreplication_factor: 1\naccess: {write: [anyone]}\n"
    )
    with pytest.raises(UsageError, match=r"access.write names \['anyone'\]"):
        load_specs(Settings(topics_dir=tmp_path))


def test_acls_grant_each_principal_only_what_the_declarations_allow():
    specs = load_specs(Settings(topic_prefix="p."))
    principals = {"shop": "User:shop", "streamapp": "User:app"}
    lines = grants(specs, principals, ("app", "app-learner"))

    def topics(principal: str, operation: str) -> set[str]:
        return {
            line[i + 1]
            for line in lines
            if line[2] == principal and operation in line
            for i, arg in enumerate(line)
            if arg == "--topic"
        }

    assert "p.inventory" in topics("User:app", "Read")
    assert "p.inventory" not in topics("User:app", "Write")
    assert topics("User:shop", "Write") == {"p.clicks", "p.carts", "p.inventory"}
    assert not any("User:operator" in line for line in lines)  # a role left out gets nothing
    assert not any("Create" in line for line in lines)  # only the operator administers
