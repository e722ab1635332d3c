"""``streamapp report exposure``: who the published lists showed, per tenant and user segment —
coverage, concentration, the long tail, new items, categories and brands against the catalogue
and the interactions (docs/exposure.md)."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson

from streamapp.cli.parsing import KAFKA, Commands
from streamapp.clock import now_ms
from streamapp.errors import UsageError
from streamapp.settings import get_settings

_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def instant(text: str, now: int) -> int:
    """An instant in ms: epoch milliseconds, an ISO-8601 date or time (UTC unless it says
    otherwise), or a time ago (``30m``, ``2h``, ``7d``).

    >>> instant("1700000000000", 0), instant("2h", 10_000_000), instant("1970-01-02", 0)
    (1700000000000, 2800000, 86400000)
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    ago = _AGO.fullmatch(text)
    if ago:
        return now - int(float(ago.group(1)) * _UNIT_MS[ago.group(2)])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an instant: give epoch ms, an ISO-8601 date or time, or 30m/2h/7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _exposure(args: argparse.Namespace) -> int:
    from streamapp.evaluation.exposure_log import Window, markdown, plot, read_exposure

    settings, now = get_settings(), now_ms()
    window = Window(instant(args.since, now), instant(args.until, now) if args.until else None)
    if window.until_ms is not None and window.until_ms <= window.since_ms:
        raise UsageError("--until must come after --since")
    if args.tenant and args.tenant not in settings.tenants:
        raise UsageError(f"unknown tenant {args.tenant!r}: not in STREAMAPP_TENANTS")
    report = asyncio.run(read_exposure(settings, window, args.tenant))
    body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    print(body.decode() if args.json else markdown(report), end="\n" if args.json else "")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "exposure.json").write_bytes(body)
        (out / "exposure.md").write_text(markdown(report))
        plot(report, out / "lorenz.png")
        if not args.json:
            print(f"wrote {out / 'exposure.json'}, {out / 'exposure.md'}, {out / 'lorenz.png'}")
    return 0


def register(commands: Commands) -> None:
    report = commands.add(
        "report",
        "reports on what the live system published: exposure and bias of its lists",
        _exposure,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix", "app_id", "tenants", "max_event_bytes"),
    )
    kinds = report.add_subparsers(dest="kind", required=True, metavar="REPORT")
    exposure = kinds.add_parser(
        "exposure",
        help="coverage, Gini, long-tail and new-item share, categories and brands, per tenant "
        "and segment (new and returning users)",
    )
    exposure.add_argument(
        "--since",
        required=True,
        help="lists generated from this instant: epoch ms, ISO-8601, or a time ago (2h, 7d)",
    )
    exposure.add_argument("--until", help="and before this one (default: now)")
    exposure.add_argument("--tenant", help="one tenant (default: every tenant)")
    exposure.add_argument("--json", action="store_true", help="print JSON instead of tables")
    exposure.add_argument("--out", help="also write exposure.json, exposure.md and lorenz.png")
