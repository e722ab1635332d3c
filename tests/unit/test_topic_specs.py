"""Topic declarations as the cluster is asked to hold them: an environment's replication
overlay applied to every topic, and a file that is no declaration refused with its name."""

from __future__ import annotations

import pytest

from streamapp.errors import UsageError
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
