"""``streamapp simulate``: synthetic shoppers with hidden tastes on the live stack."""

from __future__ import annotations

import argparse
import asyncio

import orjson

from streamapp.cli.parsing import KAFKA, Commands
from streamapp.settings import get_settings


def _simulate(args: argparse.Namespace) -> int:
    from streamapp.simulation.driver import simulate

    summary = asyncio.run(
        simulate(get_settings(), args.shoppers, args.seconds, args.seed, args.rate, args.items)
    )
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


def register(commands: Commands) -> None:
    simulate = commands.add(
        "simulate",
        "run synthetic shoppers against the live stack and print what they read and did",
        _simulate,
        KAFKA,
        ("kafka_bootstrap", "topic_prefix"),
    )
    simulate.add_argument("--shoppers", type=int, default=200, help="shoppers in the world")
    simulate.add_argument("--seconds", type=float, default=60.0, help="how long they shop")
    simulate.add_argument(
        "--seed", type=int, default=1, help="the world's seed (tastes, catalogue)"
    )
    simulate.add_argument("--rate", type=float, default=100.0, help="shopper actions per second")
    simulate.add_argument("--items", type=int, default=500, help="items in the catalogue")
