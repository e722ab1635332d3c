"""Folders shipped inside the package (contracts, Lua scripts), found with importlib.resources.

Reading them relative to the repository would work in a checkout and fail in an installed
wheel; :func:`folder` works in both.

>>> folder("streamapp.state", "lua").joinpath("ingest.lua").is_file()
True
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["folder"]


def folder(package: str, name: str) -> Path:
    """A folder of package data as a real path, so it can be globbed and read like any other:
    true of every install streamapp supports (a wheel or an editable checkout, never a zip)."""
    found = files(package) / name
    if not isinstance(found, Path) or not found.is_dir():
        raise RuntimeError(f"{package} is installed without its {name}/ folder ({found})")
    return found
