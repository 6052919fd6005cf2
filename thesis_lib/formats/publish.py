"""Publishing a converted dataset atomically: immutable versions behind one swapped pointer.

The dataset a user names ``P`` is a symbolic link ``P -> .P.versions/<version>``. A writer builds
its copy in ``.P.partial-<pid>-<random>``, moves it into ``.P.versions/`` and points ``P`` at it by
renaming a new link over the old one. ``rename`` is atomic, so whoever resolves ``P`` finds the
old complete version or the new one, never nothing; two writers of the same dataset both succeed
and the last one's version stays. A version is never changed once published.

Superseded versions are deleted by later writers, but never under a reader: a reader holds a
shared ``flock`` on its version's ``manifest.json`` for as long as it lives, and a deleter needs an
exclusive lock, which it only tries (it never waits). A writer holds its own new version the same
way until the pointer names it, so a concurrent writer's clean-up cannot delete it first.

A plain directory at ``P`` (written before versions existed) still opens; overwriting it moves it
into ``.P.versions/`` first, which leaves ``P`` missing for the moment between two renames.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

MANIFEST = "manifest.json"
_RESOLVE_TRIES = 20


def versions_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}.versions")


def new_partial(path: Path) -> Path:
    """A fresh, empty, uniquely named folder beside ``path`` to build a version in."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    partial.mkdir()
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
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    if _points_into_versions(path) or (path.is_dir() and (is_dataset_dir(path) or not any(path.iterdir()))):
        return
    what = "a file" if path.is_file() else "a folder" if path.is_dir() else "something else"
    raise FileExistsError(f"{path} is {what} that is not a thesis-lab dataset (no {MANIFEST} naming a "
                          "format); refusing to overwrite it: remove it yourself or choose another path")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_pid(name: str, marker: str) -> int | None:
    """The process id in ``.P.<marker>-<pid>[-<random>]``, or None."""
    pid = name.split(f".{marker}-", 1)[-1].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def remove_stale(path: Path) -> None:
    """Delete what killed writers left beside ``path``: partial builds, moved-away old copies
    (``.P.old-<pid>``, from before versions existed) and half-made links."""
    for marker in ("partial", "old", "link"):
        for leftover in path.parent.glob(f".{path.name}.{marker}-*"):
            pid = _writer_pid(leftover.name, marker)
            if pid is None or _pid_alive(pid):
                continue
            if leftover.is_symlink() or not leftover.is_dir():
                leftover.unlink(missing_ok=True)
            else:
                shutil.rmtree(leftover, ignore_errors=True)


# -- holding a version ---------------------------------------------------------------------------
def hold(version: Path) -> BinaryIO | None:
    """A shared lock on ``version``, held while the returned file stays open (no writer deletes a
    held version); None when it has no manifest (or was just deleted)."""
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
    return file


def _target(path: Path) -> Path:
    """The folder ``path`` names now: the version a pointer names, or ``path`` itself."""
    try:
        return path.parent / os.readlink(path)
    except OSError:  # not a link (a plain folder, or nothing)
        return path


def resolve(path: Path) -> tuple[Path, BinaryIO | None]:
    """The version folder ``path`` names now, held. A version that vanishes between reading the
    pointer and holding it was superseded and deleted: the pointer is read again. The hold is None
    when the folder has no manifest (the caller's manifest check then says what is wrong)."""
    for _ in range(_RESOLVE_TRIES):
        target = _target(path)
        held = hold(target)
        if held is not None or not path.is_symlink() or _target(path) == target:
            return target, held
    return target, None


# -- publishing ------------------------------------------------------------------------------------
def publish(tmp: Path, path: Path, overwrite: bool) -> Path:
    """Move the finished build ``tmp`` into a new version and point ``path`` at it; delete the
    superseded versions no reader holds. Returns the version folder."""
    versions = versions_dir(path)
    versions.mkdir(exist_ok=True)
    version = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
    own = hold(tmp)  # before it is visible to other writers' clean-up
    try:
        os.rename(tmp, version)
        link_target = os.path.relpath(version, path.parent)
        if overwrite:
            _swap_pointer(path, link_target)
        else:
            _create_pointer(path, link_target, version)
        fsync_dir(path.parent)
        collect(path)
    finally:
        if own is not None:
            own.close()
    return version


def _create_pointer(path: Path, link_target: str, version: Path) -> None:
    try:
        os.symlink(link_target, path)
    except FileExistsError:
        shutil.rmtree(version, ignore_errors=True)
        raise FileExistsError(f"{path} already exists (another writer finished first); "
                              "pass overwrite=True to replace it") from None


def _swap_pointer(path: Path, link_target: str) -> None:
    link = path.with_name(f".{path.name}.link-{os.getpid()}-{secrets.token_hex(4)}")
    os.symlink(link_target, link)
    try:
        os.replace(link, path)
    except OSError as exc:
        if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
            link.unlink(missing_ok=True)
            raise
        # A plain dataset folder from before versions existed: move it into the versions, then link.
        if not path.is_symlink():
            try:
                os.rename(path, versions_dir(path) / f"unversioned-{os.getpid()}-{secrets.token_hex(4)}")
            except FileNotFoundError:
                pass  # another writer moved it first
        os.replace(link, path)


def collect(path: Path) -> None:
    """Delete every version of ``path`` that the pointer no longer names and no reader holds."""
    versions = versions_dir(path)
    if not versions.is_dir():
        return
    for version in versions.iterdir():
        if _is_current(path, version):
            continue
        try:
            file = open(version / MANIFEST, "rb")
        except NotADirectoryError:
            continue  # not a version
        except FileNotFoundError:  # a version loses its manifest only once its deletion has begun
            shutil.rmtree(version, ignore_errors=True)
            continue
        with file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # BlockingIOError: a reader (or its writer, until published) holds it
                continue
            if not _is_current(path, version):  # the pointer may have moved to it meanwhile
                shutil.rmtree(version, ignore_errors=True)


def _is_current(path: Path, version: Path) -> bool:
    return path.is_symlink() and _target(path) == version


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
