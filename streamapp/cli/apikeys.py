"""``streamapp api-key new``: a new API key for the HTTP API, and the entry of the key file
that grants it (only the key's SHA-256 digest is stored; the key is shown once)."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

import yaml

from streamapp.cli.parsing import Commands
from streamapp.errors import UsageError
from streamapp.settings import get_settings


def _new(args: argparse.Namespace) -> int:
    from streamapp.http.keys import digest

    settings = get_settings()
    tenants = list(settings.tenants) if args.all_tenants else args.tenant or [settings.tenants[0]]
    unknown = sorted(set(tenants) - set(settings.tenants))
    if unknown:
        raise UsageError(f"tenants {unknown} are not served (STREAMAPP_TENANTS)")
    key = secrets.token_urlsafe(32)
    entry = {"name": args.name, "sha256": digest(key).hex(), "tenants": tenants}
    if args.key_out:
        _write_private(Path(args.key_out), key + "\n")
        print(f"key written to {args.key_out} (the caller sends `Authorization: Bearer <key>`)")
    else:
        print(f"key (shown once; the caller sends `Authorization: Bearer <key>`): {key}")
    if args.file:
        path = Path(args.file)
        kept = [e for e in _entries(path, settings.tenants) if e.get("name") != args.name]
        _write_private(path, yaml.safe_dump([*kept, entry], sort_keys=False))
        print(f"{path}: entry {args.name!r} written (a worker reads it again within a second)")
        return 0
    print("append to the file STREAMAPP_API_KEYS_FILE names (read again within a second):")
    print(yaml.safe_dump([entry], sort_keys=False), end="")
    return 0


def _entries(path: Path, tenants: tuple[str, ...]) -> list[dict[str, object]]:
    """The key file's entries (none when it does not exist yet), checked as a worker checks
    them, so a file a worker would refuse is not written to."""
    from streamapp.http.keys import InvalidKeys, KeyRing

    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text()) or []
    try:
        KeyRing.parse(document, tenants)
    except InvalidKeys as exc:
        raise UsageError(f"{path}: {exc}") from None
    return list(document)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` whole (a worker never reads half a file), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.write_text(text)
    partial.chmod(0o600)
    partial.replace(path)


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
    new.add_argument(
        "--all-tenants", action="store_true", help="every tenant served (STREAMAPP_TENANTS)"
    )
    new.add_argument(
        "--file",
        help="write the entry into this key file, replacing the entry of the same name "
        "(a rotation), instead of printing it",
    )
    new.add_argument("--key-out", help="write the key to this file instead of printing it")
