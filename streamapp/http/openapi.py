"""The HTTP contract: ``schemas/openapi.v1.yaml``, served bundled and enforced on requests.

Requests are validated against the parameters the document declares (the same compiled JSON
Schemas the document shows), so the document and the code cannot disagree about what is valid.

>>> op = Operation(document(), "/v1/users/{user_id}/recommendations", "get")
>>> op.parse({"user_id": "u1"}, {"limit": ["5"], "exclude": ["a", "b"]}, {})["exclude"]
['a', 'b']
>>> op.parse({"user_id": "u1"}, {"limit": ["0"]}, {})
Traceback (most recent call last):
...
streamapp.http.openapi.InvalidRequest: limit (query): 0 is less than the minimum of 1
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
import yaml

from streamapp.contracts import schemas
from streamapp.settings import get_settings

INTEGER = re.compile(r"-?[0-9]{1,18}")
MESSAGE_FILE = re.compile(r"(?P<message>[a-z-]+)\.v(?P<version>[0-9]+)\.json")


@dataclass(frozen=True)
class ParameterError:
    """What a client needs to fix one parameter (the ``errors`` of a 400 problem)."""

    name: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.where}): {self.reason}"


class InvalidRequest(ValueError):
    """One or more parameters broke the contract; ``errors`` says which and why."""

    def __init__(self, errors: Sequence[ParameterError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = list(errors)


def _resolve_external(node: Any) -> Any:
    """Replace ``$ref: "<message>.v<n>.json#/pointer"`` with the schema it points into, so the
    served document stands alone (schemathesis and code generators fetch only one URL)."""
    if isinstance(node, list):
        return [_resolve_external(n) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        name, _, pointer = ref.partition("#")
        file = MESSAGE_FILE.fullmatch(name)
        if file is None:
            raise ValueError(f"$ref {ref!r} is neither local nor a message schema")
        target: Any = schemas.load(file["message"], int(file["version"]))
        for part in filter(None, pointer.split("/")):
            target = target[part]
        return _resolve_external(copy.deepcopy(target))
    return {k: _resolve_external(v) for k, v in node.items() if k not in ("$schema", "$id")}


@cache
def document() -> dict[str, Any]:
    """The repository's OpenAPI document with its references to message schemas resolved."""
    path = get_settings().schemas_dir / "openapi.v1.yaml"
    resolved: dict[str, Any] = _resolve_external(yaml.safe_load(path.read_text()))
    return resolved


def _local(doc: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a ``#/components/...`` reference inside the document."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


@dataclass(frozen=True)
class _Parameter:
    name: str
    where: str
    required: bool
    schema: Mapping[str, Any]
    validator: Any

    @property
    def type(self) -> str:
        return str(self.schema.get("type", "string"))

    def coerce(self, raw: list[str]) -> Any:
        """Text from the URL or a header → the JSON value the schema describes."""
        if self.type == "array":
            return raw
        if len(raw) > 1:
            raise ValueError("given more than once")
        if self.type == "integer":
            if not INTEGER.fullmatch(raw[0]):
                raise ValueError(f"{raw[0]!r} is not an integer")
            return int(raw[0])
        return raw[0]


class Operation:
    """The declared parameters of one operation, compiled once."""

    def __init__(self, doc: Mapping[str, Any], path: str, method: str) -> None:
        self.parameters = []
        for declared in doc["paths"][path][method].get("parameters", []):
            p = _local(doc, declared)
            self.parameters.append(
                _Parameter(
                    p["name"],
                    p["in"],
                    bool(p.get("required", False)),
                    p["schema"],
                    jsonschema_rs.validator_for(p["schema"]),
                )
            )

    def parse(
        self,
        path: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
    ) -> dict[str, Any]:
        """Every declared parameter that was given, typed and checked; absent ones are left out
        (the handler owns the defaults). Raises :class:`InvalidRequest` listing every problem."""
        values: dict[str, Any] = {}
        errors = []
        for p in self.parameters:
            raw = self._raw(p, path, query, headers)
            if raw is None:
                if p.required:
                    errors.append(ParameterError(p.name, p.where, "is required"))
                continue
            try:
                value = p.coerce(raw)
            except ValueError as exc:
                errors.append(ParameterError(p.name, p.where, str(exc)))
                continue
            problems = [e.message for e in p.validator.iter_errors(value)]
            if problems:
                errors.append(ParameterError(p.name, p.where, problems[0]))
            else:
                values[p.name] = value
        if errors:
            raise InvalidRequest(errors)
        return values

    @staticmethod
    def _raw(
        p: _Parameter,
        path: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
    ) -> list[str] | None:
        if p.where == "path":
            return [path[p.name]] if p.name in path else None
        if p.where == "query":
            return query.get(p.name) or None
        value = headers.get(p.name)
        return None if value is None else [value]
