"""The folders publishing makes beside a dataset path ``P``: their names, the marker that makes a
folder ours, the checks before a write, and the clean-up of what killed writers left.

Clean-up deletes only what this project made: an entry with one of its names (``.P.partial-*``,
``.P.versions/<version>``) that also holds the :data:`MARKER` file written when it was created.
The marker goes last when a version is deleted, so a deletion cut short is finished by the next
one. A versions folder, or any other of these paths, that is a symbolic link is refused: clean-up
through it would delete whatever it points at.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from ..core.machine import pid_alive

MANIFEST = "manifest.json"
#: The empty file in every folder publishing creates: only folders holding it are ever deleted.
MARKER = ".thesis-lab-version"
_VERSIONS_SUFFIX = ".versions"
VERSION_NAME = re.compile(r"(\d{8}T\d{6}|unversioned)-\d+-[0-9a-f]{8}")  # what publish names them


def versions_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}{_VERSIONS_SUFFIX}")


def pointer_of(version: Path) -> Path | None:
    """The dataset path ``P`` whose versions folder holds ``version``, or None (not a version)."""
    folder = version.parent.name
    if folder.startswith(".") and folder.endswith(_VERSIONS_SUFFIX) and len(folder) > len(_VERSIONS_SUFFIX) + 1:
        return version.parent.with_name(folder[1:-len(_VERSIONS_SUFFIX)])
    return None


def check_not_linked(path: Path) -> None:
    """FileExistsError when the versions folder of ``path`` is a symbolic link or not a folder:
    writing through it would publish, and clean up, wherever it points."""
    versions = versions_dir(path)
    if versions.is_symlink():
        raise FileExistsError(f"{versions} is a symbolic link (to {os.readlink(versions)}); the versions of "
                              f"{path.name} must be a folder of their own, as clean-up deletes superseded "
                              "versions in it: remove the link or choose another path")
    if os.path.lexists(versions) and not versions.is_dir():
        raise FileExistsError(f"{versions} is a file, where the versions of {path.name} belong: "
                              "remove it or choose another path")


def mark(folder: Path) -> None:
    (folder / MARKER).touch()


def is_ours(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) that publishing created."""
    return not folder.is_symlink() and folder.is_dir() and (folder / MARKER).is_file()


def delete(folder: Path) -> None:
    """Delete a folder publishing created; the marker goes last, so a deletion cut short (a
    killed process, a file that resisted) still looks like ours to the next clean-up."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:  # another process deleted it first
        return
    for entry in entries:
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    with contextlib.suppress(OSError):
        (folder / MARKER).unlink()
        folder.rmdir()


def new_partial(path: Path) -> Path:
    """A fresh, empty, uniquely named folder beside ``path`` to build a version in."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    partial.mkdir()
    mark(partial)
    return partial


def is_dataset_dir(folder: Path) -> bool:
    """Whether ``folder`` holds a ``manifest.json`` naming one of this project's formats."""
    from . import names

    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") in names()


def _points_into_versions(path: Path) -> bool:
    return path.is_symlink() and Path(os.readlink(path)).parts[:1] == (versions_dir(path).name,)


def check_replaceable(path: Path, overwrite: bool) -> None:
    """FileExistsError unless writing at ``path`` may go ahead: nothing is there, or ``overwrite``
    is set and what is there is one of this project's datasets or an empty folder (never a user's
    file or files)."""
    check_not_linked(path)
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if _points_into_versions(path) or (path.is_dir() and (is_dataset_dir(path) or not any(path.iterdir()))):
        return
    what = "a file" if path.is_file() else "a folder" if path.is_dir() else "something else"
    raise FileExistsError(f"{path} is {what} that is not a thesis-lab dataset (no {MANIFEST} naming a "
                          "format); refusing to overwrite it: remove it yourself or choose another path")


def _writer_pid(name: str, marker: str) -> int | None:
    """The process id in ``.P.<marker>-<pid>[-<random>]``, or None."""
    pid = name.split(f".{marker}-", 1)[-1].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def remove_stale(path: Path) -> None:
    """Delete what killed writers left beside ``path``: partial builds (marked), half-made links,
    and moved-away old copies (``.P.old-<pid>``, from before versions existed) that hold a
    dataset. Anything else with such a name is left alone."""
    for kind in ("partial", "old", "link"):
        for leftover in path.parent.glob(f".{path.name}.{kind}-*"):
            pid = _writer_pid(leftover.name, kind)
            if pid is None or pid_alive(pid):
                continue
            if kind == "link":
                if leftover.is_symlink():  # removes the link only, never what it names
                    leftover.unlink(missing_ok=True)
            elif is_ours(leftover):
                delete(leftover)
            elif kind == "old" and not leftover.is_symlink() and is_dataset_dir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            elif kind == "partial" and not leftover.is_symlink() and leftover.is_dir():
                with contextlib.suppress(OSError):  # killed before its marker: only if still empty
                    leftover.rmdir()
