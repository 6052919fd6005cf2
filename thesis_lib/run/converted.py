"""Where converted copies of a dataset live, and reusing one only when it matches exactly.

A copy's folder name carries a hash of (source spec, format, resolved options); its manifest
repeats both, and a copy is reused only when the manifest agrees with what is asked now.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import formats
from ..core import paths
from ..core.errors import FormatError
from ..formats.base import dir_bytes
from ..sources.base import Source


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def dataset_key(source: Source) -> str:
    """A readable, unique folder name for a source: ``<name>-<HxW>-<n>-<hash of spec>``."""
    h, w, _ = source.image_shape
    return f"{source.name}-{h}x{w}-{len(source)}-{_key(source.spec)}"


def converted_path(source: Source, fmt: str, options: dict, root: Path | None = None) -> Path:
    resolved = formats.get(fmt).resolve_options(options)
    root = Path(root) if root else paths.data_dir("converted")
    return root / dataset_key(source) / f"{fmt}-{_key(resolved)}"


def matches(path: Path, source: Source, fmt: str, options: dict) -> bool:
    """Whether the copy at ``path`` is complete and was made from this source with these options."""
    try:
        manifest = formats.read_manifest(path)
    except FormatError:
        return False
    resolved = formats.get(fmt).resolve_options(options)
    same_spec = json.loads(json.dumps(manifest.get("source"), default=str)) == json.loads(
        json.dumps(source.spec, default=str))
    return manifest["format"] == fmt and manifest.get("options") == resolved and same_spec


def ensure_converted(source: Source, fmt: str, options: dict | None = None, *, root: Path | None = None,
                     progress: bool | None = None) -> tuple[Path, dict]:
    """The converted copy for ``(source, fmt, options)``: reused when it matches, else written.

    Returns ``(path, stats)`` with ``bytes_on_disk``, ``seconds`` (of the write that made the copy)
    and ``reused``.
    """
    options = formats.get(fmt).resolve_options(options or {})  # once: the steps below take it as it is
    path = converted_path(source, fmt, options, root)
    if matches(path, source, fmt, options):
        manifest = formats.read_manifest(path)
        return path, {"bytes_on_disk": dir_bytes(path), "seconds": manifest.get("write_seconds"),
                      "options": manifest["options"], "reused": True}
    stats = formats.get(fmt).write(source, path, overwrite=True, progress=progress, options=options)
    return path, {**stats, "reused": False}
