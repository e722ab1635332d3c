"""The ``streamapp`` command: one module per command group, each adding its sub-commands
(:mod:`.processes`, :mod:`.topics`, :mod:`.lag`, :mod:`.replay`, :mod:`.evaluate`,
:mod:`.bench`, :mod:`.model`, :mod:`.experiment`, :mod:`.rules`, :mod:`.apikeys`,
:mod:`.simulate`, :mod:`.settings`); the work is done by the domain packages.

Errors a user can fix (:mod:`streamapp.errors`, a bad setting, a service that does not answer)
end as one line on stderr and exit code 2; anything else keeps its traceback.
"""

from __future__ import annotations

import os

# One BLAS thread: a matrix-vector product per query is faster on one thread than the cost of
# waking OpenBLAS's pool on a shared 2-vCPU machine (docs/performance.md). Must be set before
# numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import re
import sys
from importlib.metadata import version as installed_version

from pydantic import ValidationError
from pydantic_settings import SettingsError

from streamapp.cli import (
    apikeys,
    bench,
    evaluate,
    experiment,
    lag,
    model,
    processes,
    replay,
    report,
    rules,
    settings,
    simulate,
    topics,
)
from streamapp.cli.parsing import Commands, env_name
from streamapp.errors import UsageError
from streamapp.settings import Settings, get_settings, redact

GROUPS = (
    processes,
    topics,
    lag,
    replay,
    evaluate,
    report,
    bench,
    model,
    experiment,
    rules,
    apikeys,
    simulate,
    settings,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamapp",
        description="Real-time recommendations on Kafka: run the worker and the learner, manage "
        "topics and models, read consumer lag, replay and evaluate event logs, benchmark.",
        epilog="Every setting is an environment variable STREAMAPP_<NAME>; "
        "`streamapp settings` prints them all with the values in effect.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {installed_version('streamapp')}"
    )
    commands = Commands(parser)
    for group in GROUPS:
        group.register(commands)
    return parser


def _bad_settings(error: ValidationError) -> str:
    """One line per invalid ``STREAMAPP_*`` value (the value shown only when it holds no
    password)."""
    problems = []
    for e in error.errors():
        if not e["loc"]:  # a check across settings, whose message names what it is about
            problems.append(str(e.get("ctx", {}).get("error") or e["msg"]))
            continue
        name = env_name(str(e["loc"][0]))
        given = e.get("input")
        shown = f"={redact(given)!r}" if isinstance(given, str) else ""
        problems.append(f"{name}{shown}: {e['msg']}")
    return "bad setting: " + "; ".join(problems)


def _unparsable_setting(error: SettingsError) -> str:
    """pydantic-settings names the field, not the variable a user set."""
    field = re.search(r'field "(\w+)"', str(error))
    name = env_name(field[1]) if field else "a STREAMAPP_* value"
    return f"bad setting: {name} is not valid JSON (mappings and lists take JSON)"


def _fail(message: str) -> int:
    print(f"streamapp: {message}", file=sys.stderr)
    return 2


def _explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line a user reads for an error they can fix; None for a bug."""
    from aiokafka.errors import KafkaConnectionError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from streamapp.ops.preflight import kafka_unreachable, redis_unreachable

    if isinstance(exc, UsageError):
        return str(exc)
    # A service that answered the check can still go away while a command runs.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return redis_unreachable(settings, exc)
    if isinstance(exc, KafkaConnectionError):
        return kafka_unreachable(settings, exc)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        return _fail(_bad_settings(exc))
    except SettingsError as exc:
        return _fail(_unparsable_setting(exc))
    try:
        if args.validate:
            args.validate(args)
        if args.needs:
            from streamapp.ops.preflight import check_services

            asyncio.run(check_services(settings, args.needs))
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _explain(exc, settings)
        if message is None:
            raise
        return _fail(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
