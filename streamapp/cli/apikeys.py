"""``streamapp api-key new``: a new API key for the HTTP API, and the entry of the key file
that grants it (only the key's SHA-256 digest is stored; the key is shown once)."""

from __future__ import annotations

import argparse
import secrets

import yaml

from streamapp.cli.parsing import Commands
from streamapp.errors import UsageError
from streamapp.settings import get_settings


def _new(args: argparse.Namespace) -> int:
    from streamapp.http.keys import digest

    settings = get_settings()
    tenants = args.tenant or [settings.tenants[0]]
    unknown = sorted(set(tenants) - set(settings.tenants))
    if unknown:
        raise UsageError(f"tenants {unknown} are not served (STREAMAPP_TENANTS)")
    key = secrets.token_urlsafe(32)
    entry = {"name": args.name, "sha256": digest(key).hex(), "tenants": tenants}
    print(f"key (shown once; the caller sends `Authorization: Bearer <key>`): {key}")
    print("append to the file STREAMAPP_API_KEYS_FILE names (read again within a second):")
    print(yaml.safe_dump([entry], sort_keys=False), end="")
    return 0


def register(commands: Commands) -> None:
    keys = commands.add(
        "api-key", "make an API key and the key-file entry that grants it", _new, (), ("tenants",)
    )
    actions = keys.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="a random key, and its entry (name, sha256, tenants)")
    new.add_argument("--name", required=True, help="names the caller in the key file")
    new.add_argument(
        "--tenant", action="append", help="a tenant it reads (repeat; the first is its default)"
    )
