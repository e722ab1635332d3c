"""The ``streamapp`` command (:func:`main`)."""

from __future__ import annotations

from streamapp.cli.main import main

__all__ = ["main"]
