"""A converted dataset's ``manifest.json``: found through the dataset's pointer, read and checked."""
from __future__ import annotations

import json
from pathlib import Path

from ..core.checks import checked_int
from ..core.errors import FormatError
from . import version_locks
from .shown_name import ShownName
from .version_folders import MANIFEST

MANIFEST_VERSION = 1


def read_manifest(path) -> dict:
    """The manifest of a converted dataset, or FormatError naming what is wrong."""
    path = Path(path)
    version, held = version_locks.resolve(path)
    try:
        with ShownName(version, path).errors():
            return _read_manifest_at(version, shown=path)
    finally:
        if held is not None:
            held.close()


def _read_manifest_at(folder: Path, shown: Path) -> dict:
    """The checked manifest in ``folder``, the dataset the user named ``shown``."""
    if not folder.is_dir():
        hint = ""
        if any(shown.parent.glob(f".{shown.name}.partial-*")):
            hint = " (only a partial write is there: the writer was interrupted; write it again)"
        raise FormatError(f"{shown}: no converted dataset here{hint}")
    file = folder / MANIFEST
    if not file.is_file():
        raise FormatError(f"{shown}: {MANIFEST} is missing, so the write did not complete")
    try:
        manifest = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{file}: not valid JSON ({exc})") from None
    check_manifest(manifest, file)
    return manifest


def check_manifest(manifest, file: Path) -> None:
    """FormatError naming ``file`` and the field when a manifest field a reader relies on is
    missing or of the wrong type or range (a reader must never act on such a value)."""
    if not isinstance(manifest, dict):
        raise FormatError(f"{file}: the manifest is not a JSON object")
    for key in ("format", "n", "image_shape", "options"):
        if key not in manifest:
            raise FormatError(f"{file}: the manifest lacks {key!r}")
    if not isinstance(manifest["format"], str):
        raise FormatError(f"{file}: format must be a string, got {manifest['format']!r}")
    checked_int(manifest["n"], f"{file}: n", 0, FormatError)
    shape = manifest["image_shape"]
    if (not isinstance(shape, list) or len(shape) != 3 or shape[2] != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
        raise FormatError(f"{file}: image_shape must be [height, width, 3], got {shape!r}")
    for key in ("classes", "class_names"):
        if not isinstance(manifest.get(key, []), list):
            raise FormatError(f"{file}: {key} must be a list, got {manifest[key]!r}")
    if not isinstance(manifest["options"], dict):
        raise FormatError(f"{file}: options must be a JSON object, got {manifest['options']!r}")
