"""Errors that the person running a command can fix themselves.

A missing file or data set, a bad ``STREAMAPP_*`` value, a broker or Redis that does not answer:
the CLI prints such an error as one line that says what to do and exits with code 2, where any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["MissingLogError", "ServiceUnreachableError", "UsageError"]


class UsageError(Exception):
    """The message is complete: what went wrong and what to do about it."""


class MissingLogError(UsageError, FileNotFoundError):
    """An event log to replay or evaluate is not where it was looked for."""


class ServiceUnreachableError(UsageError, ConnectionError):
    """Kafka or Redis did not answer at the configured address (passwords redacted)."""
