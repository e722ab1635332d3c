"""How every command is declared: its help, the settings it reads, the services it needs, and
the dataset flags that mean the same wherever a command reads an event log. Commands import
what they need when they run, so ``streamapp lag`` does not load Faust."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from streamapp.errors import UsageError
from streamapp.settings import Settings, redact

if TYPE_CHECKING:
    from streamapp.datasets import Interaction

# The services a command talks to, checked before it runs (streamapp.ops.preflight).
KAFKA, REDIS, BOTH = ("kafka",), ("redis",), ("kafka", "redis")
# The settings every command that talks to the services reads.
CONNECT = ("kafka_bootstrap", "redis_url", "app_id", "topic_prefix", "tenants")

Run = Callable[[argparse.Namespace], int]


def env_name(setting: str) -> str:
    """The environment variable of a setting.

    >>> env_name("kafka_bootstrap")
    'STREAMAPP_KAFKA_BOOTSTRAP'
    """
    return f"STREAMAPP_{setting.upper()}"


def setting_values(settings: Settings) -> dict[str, str]:
    """Every setting as the string its environment variable would take, passwords redacted."""
    out = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, dict | tuple | list | bool):
            text = orjson.dumps(value).decode()
        else:
            text = redact(str(value)) or "''"
        out[name] = text
    return out


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after every option's help; the environment epilogue kept as laid out."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # No default to show for a flag, for an option without one, or where the help says it.
        if action.default is None or action.default is False or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _epilog(reads: tuple[str, ...]) -> str:
    """The settings a command reads, named in its help so that ``--help`` says how to point it
    at another cluster, Redis or data set."""
    if not reads:
        return "reads no STREAMAPP_* setting"
    defaults = setting_values(Settings.model_construct())
    width = max(len(env_name(n)) for n in reads)
    lines = [f"  {env_name(n):<{width}}  default {defaults[n]}" for n in reads]
    return "environment (every setting: `streamapp settings`):\n" + "\n".join(lines)


class Commands:
    """The sub-commands of ``streamapp``; each command module adds its own."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        self,
        name: str,
        summary: str,
        run: Run,
        needs: tuple[str, ...] = (),
        reads: tuple[str, ...] = (),
        validate: Callable[[argparse.Namespace], None] | None = None,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser:
        parser = self.sub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=epilog or _epilog(reads),
            formatter_class=HelpFormatter,
        )
        parser.set_defaults(func=run, needs=needs, reads=reads, validate=validate)
        return parser


def with_loglevel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="least severe log records printed",
    )


def with_dataset(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--path``, ``--head N`` and ``--tail N``, the same for every command
    that reads an event log; checked before any service is asked (a mistyped path is the
    cheaper thing to hear about)."""
    parser.add_argument(
        "--dataset",
        choices=["taobao", "rees46", "csv"],
        default="taobao",
        help="log format; taobao and rees46 name logs in STREAMAPP_DATASETS_DIR",
    )
    parser.add_argument("--path", help="log file (default: the named log; required with csv)")
    ends = parser.add_mutually_exclusive_group()
    ends.add_argument("--head", type=int, default=0, help="only the first N events (0: all)")
    ends.add_argument("--tail", type=int, default=0, help="only the last N events (0: all)")
    parser.set_defaults(validate=_dataset_exists)


def _dataset_exists(args: argparse.Namespace) -> None:
    from streamapp import datasets

    datasets.locate(args.dataset, _path(args))


def _path(args: argparse.Namespace) -> Path | None:
    return Path(args.path) if args.path else None


def load_log(args: argparse.Namespace) -> list[Interaction]:
    """The event log the dataset flags name, cut to ``--head`` or ``--tail``."""
    from streamapp import datasets

    log = datasets.load(args.dataset, _path(args))
    if args.head:
        return log[: args.head]
    if args.tail:
        return log[-args.tail :]
    return log


def read_yaml(path: Path) -> Any:
    """A YAML file's content, or a one-line error a user can act on."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not YAML: {exc}") from None
