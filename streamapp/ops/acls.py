"""The Kafka ACLs a deployment needs, from the topic declarations' ``access``: each role may
write and read the topics it is named on and nothing else, so a shop's producer cannot write
the lists, and streamapp's own principal cannot forge a stock-out on ``inventory``.

Each grant is the argument list of Kafka's own ACL tool (``kafka-acls.sh``, or
``org.apache.kafka.tools.AclCommand``), which checks the operations against the resource type.

>>> from streamapp.ops.topics import TopicSpec
>>> specs = [TopicSpec("inventory", 3, 1, writers=("shop",), readers=("streamapp",))]
>>> principals = {"shop": "User:shop", "streamapp": "User:app"}
>>> for grant in grants(specs, principals, ("app", "app-learner")):
...     print(" ".join(grant))
--add --allow-principal User:shop --operation Write --operation Describe --topic inventory
--add --allow-principal User:app --operation Read --operation Describe --topic inventory
--add --allow-principal User:app --operation Read --group app --group app-learner
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamapp.ops.topics import TopicSpec

__all__ = ["grants"]

# What the operator's commands do besides reading and writing: `topics apply` creates topics,
# raises partitions and sets configs; `topics check` reads configs.
_ADMINISTER = ("Create", "Alter", "AlterConfigs", "DescribeConfigs")


def grants(
    specs: list[TopicSpec], principals: Mapping[str, str], groups: Sequence[str]
) -> list[list[str]]:
    """One ACL tool invocation per (principal, set of operations). ``principals`` maps a role
    to its principal (``User:name``); a role left out is granted nothing. ``groups`` are the
    consumer groups streamapp's processes join (the workers', the learner's), named one by one
    so that another deployment's groups stay out of reach; the operator's ``lag`` reads their
    committed offsets."""
    out: list[list[str]] = []

    def grant(principal: str, operations: tuple[str, ...], resource: list[str]) -> None:
        if resource:
            ops = [arg for op in operations for arg in ("--operation", op)]
            out.append(["--add", "--allow-principal", principal, *ops, *resource])

    def topics(names: list[str]) -> list[str]:
        return [arg for name in names for arg in ("--topic", name)]

    for role, principal in principals.items():
        grant(
            principal, ("Write", "Describe"), topics([s.name for s in specs if role in s.writers])
        )
        grant(principal, ("Read", "Describe"), topics([s.name for s in specs if role in s.readers]))
        group = [arg for name in groups for arg in ("--group", name)]
        if role == "streamapp":
            grant(principal, ("Read",), group)
        if role == "operator":
            grant(principal, ("Describe",), group)
            grant(principal, _ADMINISTER, topics([s.name for s in specs]))
    return out
