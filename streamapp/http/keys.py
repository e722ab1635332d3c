"""API keys: who may read which tenant's lists, and how fast.

Keys live in a YAML file (``STREAMAPP_API_KEYS_FILE``) as SHA-256 digests, never in clear:

.. code-block:: yaml

    - name: storefront            # names the caller in logs and metrics
      sha256: 9f86d08...          # hex digest of the key (`streamapp api-key new` makes both)
      tenants: [default, shop2]   # the tenants it reads; the first when X-Tenant is left out

A request's key is hashed and compared with every entry in constant time (``hmac``), so
neither the answer nor its timing says how much of a key was right. The file is read again
when it changes (checked at most once a second), so keys are added and revoked without a
restart; a file that no longer reads keeps the keys read last, and says so in the log.

Each key has a token bucket (``STREAMAPP_API_RATE_PER_S``, ``STREAMAPP_API_BURST``): a caller
over its rate is told when to come back, and a brute force of keys from one address is slowed
by the same limit per address.

>>> ring = KeyRing((ApiKey("storefront", digest("s3cret"), ("default",)),))
>>> ring.find("s3cret").name, ring.find("guess")
('storefront', None)
>>> bucket = Buckets(rate=1.0, burst=2)
>>> [bucket.wait("k", 0.0), bucket.wait("k", 0.0), bucket.wait("k", 0.0)]
[0.0, 0.0, 1.0]
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ApiKey", "Buckets", "InvalidKeys", "KeyFile", "KeyRing", "digest"]

log = logging.getLogger(__name__)

# How often the key file is looked at for changes.
LOOK_EVERY_S = 1.0


class InvalidKeys(ValueError):
    """A key file that cannot be used, with what to change."""


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: bytes
    tenants: tuple[str, ...]


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[ApiKey, ...]

    @classmethod
    def parse(cls, document: Any, tenants: tuple[str, ...]) -> KeyRing:
        """A key file's entries, checked: each named once, a 64-hex-digit digest, and tenants
        the deployment serves."""
        if not isinstance(document, list):
            raise InvalidKeys("the key file is a list of entries (name, sha256, tenants)")
        keys, names = [], set()
        for n, entry in enumerate(document):
            where = f"entry {n + 1}"
            if not isinstance(entry, dict) or set(entry) != {"name", "sha256", "tenants"}:
                raise InvalidKeys(f"{where}: name, sha256 and tenants, and nothing else")
            name, hexdigest, granted = entry["name"], entry["sha256"], entry["tenants"]
            if not isinstance(name, str) or not name or name in names:
                raise InvalidKeys(f"{where}: a name of its own")
            try:
                raw = bytes.fromhex(str(hexdigest))
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise InvalidKeys(f"{where} ({name}): sha256 is the key's hex digest (64 digits)")
            if not isinstance(granted, list) or not granted:
                raise InvalidKeys(f"{where} ({name}): tenants is a list of at least one")
            unknown = sorted(str(t) for t in granted if t not in tenants)
            if unknown:
                raise InvalidKeys(f"{where} ({name}): tenants {unknown} are not served here")
            names.add(name)
            keys.append(ApiKey(name, raw, tuple(str(t) for t in granted)))
        return cls(tuple(keys))

    def find(self, key: str) -> ApiKey | None:
        """The entry of ``key``; every entry is compared, in constant time."""
        asked = digest(key)
        found = None
        for entry in self.keys:
            if hmac.compare_digest(asked, entry.sha256):
                found = entry
        return found


class KeyFile:
    """The key ring of a file, read again when the file changes."""

    def __init__(self, path: str, tenants: tuple[str, ...]) -> None:
        self.path = Path(path) if path else None
        self.tenants = tenants
        self.ring = KeyRing(())
        self.seen: tuple[float, int] | None = None
        self.next_look = 0.0
        if self.path is not None:
            self.ring = self._read()
            self.seen = self._stamp()

    def current(self) -> KeyRing:
        """The keys in force: the file's last good version."""
        now = time.monotonic()
        if self.path is None or now < self.next_look:
            return self.ring
        self.next_look = now + LOOK_EVERY_S
        stamp = self._stamp()
        if stamp != self.seen:
            self.seen = stamp
            try:
                self.ring = self._read()
                log.info("api keys read again path=%s keys=%d", self.path, len(self.ring.keys))
            except InvalidKeys as exc:
                log.warning("api keys not read again, the last ones stay: %s", exc)
        return self.ring

    def _stamp(self) -> tuple[float, int] | None:
        assert self.path is not None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def _read(self) -> KeyRing:
        assert self.path is not None
        try:
            document = yaml.safe_load(self.path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidKeys(f"{self.path}: cannot be read: {exc}") from None
        try:
            return KeyRing.parse(document, self.tenants)
        except InvalidKeys as exc:
            raise InvalidKeys(f"{self.path}: {exc}") from None


class Buckets:
    """A token bucket per caller: ``rate`` requests a second, ``burst`` at once; at most
    ``callers`` buckets are kept (the idlest forgotten, as if full)."""

    def __init__(self, rate: float, burst: int, callers: int = 100_000) -> None:
        self.rate, self.burst, self.callers = rate, burst, callers
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def wait(self, caller: str, now: float) -> float:
        """0 when ``caller`` may go on (a token taken), else the seconds until it may."""
        tokens, at = self.buckets.pop(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._keep(caller, (tokens - 1.0, now))
            return 0.0
        self._keep(caller, (tokens, now))
        return (1.0 - tokens) / self.rate

    def _keep(self, caller: str, state: tuple[float, float]) -> None:
        self.buckets[caller] = state
        if len(self.buckets) > self.callers:
            self.buckets.popitem(last=False)
