"""Which versions are in use: a reader's shared lock on a version, a dataset path resolved to its
version, held, and the deletion of superseded versions nobody holds.

Superseded versions are deleted once no reader holds them: by the next writer, or by the last
reader of a version when it lets go. A reader holds a shared ``flock`` on its version's
``manifest.json`` for as long as it lives, and a deleter needs an exclusive lock, which it only
tries (it never waits). A writer holds its own new version the same way until the pointer names
it, so a concurrent writer's clean-up cannot delete it first. A reader killed without letting go
leaves its version to the next writer.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from .version_folders import MANIFEST, VERSION_NAME, delete, is_ours, pointer_of, versions_dir

_RESOLVE_TRIES = 20


# -- holding a version ---------------------------------------------------------------------------
class Hold:
    """A shared lock on a version's manifest, held until :meth:`close`. Closing it deletes the
    version when the pointer has moved on and nobody else holds it, so a superseded version goes
    with its last reader, not only at the next write."""

    def __init__(self, file: BinaryIO, version: Path):
        self._file, self.version = file, version

    def fileno(self) -> int:
        return self._file.fileno()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        pointer = pointer_of(self.version)
        if pointer is not None:
            with contextlib.suppress(OSError):  # a read-only folder: the next writer cleans up
                _delete_if_superseded(pointer, self.version)


def hold(version: Path) -> Hold | None:
    """A shared lock on ``version``, held until the returned :class:`Hold` is closed (no writer
    deletes a held version); None when it has no manifest (or was just deleted)."""
    try:
        file = open(version / MANIFEST, "rb")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # waits only while a deleter is removing this version
    except OSError:
        pass  # a file system without flock: the deleters cannot lock either, so they delete nothing
    if os.fstat(file.fileno()).st_nlink == 0:  # it was deleted while we waited
        file.close()
        return None
    return Hold(file, version)


def _target(path: Path) -> Path:
    """The folder ``path`` names now: the version a pointer names, or ``path`` itself."""
    try:
        return path.parent / os.readlink(path)
    except OSError:  # not a link (a plain folder, or nothing)
        return path


def resolve(path: Path) -> tuple[Path, Hold | None]:
    """The version folder ``path`` names now, held. A version that vanishes between reading the
    pointer and holding it was superseded and deleted: the pointer is read again. The hold is None
    when the folder has no manifest (the caller's manifest check then says what is wrong)."""
    for _ in range(_RESOLVE_TRIES):
        target = _target(path)
        held = hold(target)
        if held is not None or not path.is_symlink() or _target(path) == target:
            return target, held
    return target, None


# -- deleting superseded versions ----------------------------------------------------------------
def collect(path: Path) -> None:
    """Delete every version of ``path`` that the pointer no longer names and no reader holds."""
    versions = versions_dir(path)
    if versions.is_symlink() or not versions.is_dir():
        return
    for version in versions.iterdir():
        _delete_if_superseded(path, version)


def _delete_if_superseded(path: Path, version: Path) -> None:
    """Delete ``version`` (one publishing made) if the pointer ``path`` no longer names it and
    nobody holds it."""
    if (versions_dir(path).is_symlink() or not VERSION_NAME.fullmatch(version.name) or not is_ours(version)
            or _is_current(path, version)):
        return
    try:
        file = open(version / MANIFEST, "rb")
    except FileNotFoundError:  # a version loses its manifest only once its deletion has begun
        delete(version)
        return
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: a reader (or its writer, until published) holds it
            return
        if not _is_current(path, version):  # the pointer may have moved to it meanwhile
            delete(version)


def _is_current(path: Path, version: Path) -> bool:
    """Whether the pointer ``path`` names ``version``, however either is spelt."""
    if not path.is_symlink():
        return False
    if _target(path) == version:
        return True
    try:
        return os.path.samefile(path, version)
    except OSError:  # a dangling pointer, or the version is gone
        return False
