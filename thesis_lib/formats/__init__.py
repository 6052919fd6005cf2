"""The storage formats, one module each, behind one protocol (see :mod:`.base`).

>>> fmt = get("zarr"); stats = fmt.write(source, path); reader = fmt.open(path)
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..core.registry import pick
from .base import Format, Reader, read_manifest

_MODULES = {"files": "files", "npy": "npy", "cupy": "cupy_format", "hdf5": "hdf5", "zarr": "zarr_format",
            "webdataset": "webdataset_format", "litdata": "litdata_format"}


def names() -> list[str]:
    """The valid format names, in the thesis's order."""
    return list(_MODULES)


def get(name: str) -> Format:
    """The format called ``name``; ValueError listing the valid names otherwise."""
    module = importlib.import_module(f".{pick(_MODULES, name, 'format')}", __name__)
    return module.FORMAT


def open_any(path, **open_options) -> Reader:
    """Open a converted dataset whatever its format, as its manifest says."""
    return get(read_manifest(path)["format"]).open(Path(path), **open_options)


__all__ = ["Format", "Reader", "get", "names", "open_any", "read_manifest"]
