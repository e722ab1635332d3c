"""The contracts that producers, consumers and operators share, shipped inside the package:
records and their decoding (:mod:`.events`), the messages the worker publishes
(:mod:`.messages`), the audit codec (:mod:`.audit`) and schema validation (:mod:`.schemas`).

``schemas/`` holds the JSON Schema of every message and the OpenAPI document of the HTTP API;
``topics/`` holds the topic declarations that ``streamapp topics apply`` makes true. They are
package data, so an installed wheel validates and declares exactly what the repository does;
the repository's top-level ``schemas/`` and ``topics/`` are links to these folders.

>>> sorted(p.name for p in TOPICS_DIR.glob("*.yaml"))[:2]
['audit.yaml', 'carts.yaml']
"""

from __future__ import annotations

from streamapp.package_data import folder

__all__ = ["SCHEMAS_DIR", "TOPICS_DIR"]

SCHEMAS_DIR = folder(__name__, "schemas")
TOPICS_DIR = folder(__name__, "topics")
