"""Publishing a converted dataset atomically: immutable versions behind one swapped pointer.

The dataset a user names ``P`` is a symbolic link ``P -> .P.versions/<version>``. A writer builds
its copy in ``.P.partial-<pid>-<random>``, moves it into ``.P.versions/`` and points ``P`` at it by
renaming a new link over the old one. ``rename`` is atomic, so whoever resolves ``P`` finds the
old complete version or the new one, never nothing; two writers of the same dataset both succeed
and the last one's version stays. A version is never changed once published.

Superseded versions are deleted once no reader holds them: by the next writer, or by the last
reader of a version when it lets go. A reader holds a shared ``flock`` on its version's
``manifest.json`` for as long as it lives, and a deleter needs an exclusive lock, which it only
tries (it never waits). A writer holds its own new version the same way until the pointer names
it, so a concurrent writer's clean-up cannot delete it first. A reader killed without letting go
leaves its version to the next writer.

Clean-up deletes only what this project made: an entry with one of its names (``.P.partial-*``,
``.P.versions/<version>``) that also holds the :data:`MARKER` file written when it was created.
The marker goes last when a version is deleted, so a deletion cut short is finished by the next
one. A versions folder, or any other of these paths, that is a symbolic link is refused: clean-up
through it would delete whatever it points at.

A plain directory at ``P`` (written before versions existed) still opens; overwriting it moves it
into ``.P.versions/`` first, which leaves ``P`` missing for the moment between two renames.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

MANIFEST = "manifest.json"
#: The empty file in every folder this module creates: only folders holding it are ever deleted.
MARKER = ".thesis-lab-version"
_VERSIONS_SUFFIX = ".versions"
_VERSION_NAME = re.compile(r"(\d{8}T\d{6}|unversioned)-\d+-[0-9a-f]{8}")  # what publish names them
_RESOLVE_TRIES = 20


def versions_dir(path: Path) -> Path:
    return path.with_name(f".{path.name}{_VERSIONS_SUFFIX}")


def _pointer_of(version: Path) -> Path | None:
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


def _mark(folder: Path) -> None:
    (folder / MARKER).touch()


def _is_ours(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) that this module created."""
    return not folder.is_symlink() and folder.is_dir() and (folder / MARKER).is_file()


def delete(folder: Path) -> None:
    """Delete a folder this module created; the marker goes last, so a deletion cut short (a
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
    _mark(partial)
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
    """Delete what killed writers left beside ``path``: partial builds (marked), half-made links,
    and moved-away old copies (``.P.old-<pid>``, from before versions existed) that hold a
    dataset. Anything else with such a name is left alone."""
    for kind in ("partial", "old", "link"):
        for leftover in path.parent.glob(f".{path.name}.{kind}-*"):
            pid = _writer_pid(leftover.name, kind)
            if pid is None or _pid_alive(pid):
                continue
            if kind == "link":
                if leftover.is_symlink():  # removes the link only, never what it names
                    leftover.unlink(missing_ok=True)
            elif _is_ours(leftover):
                delete(leftover)
            elif kind == "old" and not leftover.is_symlink() and is_dataset_dir(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            elif kind == "partial" and not leftover.is_symlink() and leftover.is_dir():
                with contextlib.suppress(OSError):  # killed before its marker: only if still empty
                    leftover.rmdir()


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
        pointer = _pointer_of(self.version)
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


# -- publishing ------------------------------------------------------------------------------------
def publish(tmp: Path, path: Path, overwrite: bool) -> Path:
    """Move the finished build ``tmp`` into a new version and point ``path`` at it; delete the
    superseded versions no reader holds. Returns the version folder."""
    versions = versions_dir(path)
    check_not_linked(path)  # again: a link may have appeared while the copy was being built
    versions.mkdir(exist_ok=True)
    version = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
    _mark(tmp)  # again, in case the format's writer emptied the folder it was given
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
        delete(version)
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
                _move_plain_folder(path)
            except FileNotFoundError:
                pass  # another writer moved it first
            except FileExistsError:
                link.unlink(missing_ok=True)
                raise
        os.replace(link, path)


def _move_plain_folder(path: Path) -> None:
    """Move the plain dataset folder ``path`` among its versions, marked, so clean-up may delete it
    once superseded; checked again first, as the user may have filled it since the write began."""
    if not (is_dataset_dir(path) or not any(path.iterdir())):
        raise FileExistsError(f"{path} is no longer a thesis-lab dataset or an empty folder; "
                              "refusing to overwrite it: remove it yourself or choose another path")
    _mark(path)
    os.rename(path, versions_dir(path) / f"unversioned-{os.getpid()}-{secrets.token_hex(4)}")


def collect(path: Path) -> None:
    """Delete every version of ``path`` that the pointer no longer names and no reader holds."""
    versions = versions_dir(path)
    if versions.is_symlink() or not versions.is_dir():
        return
    for version in versions.iterdir():
        _delete_if_superseded(path, version)


def _delete_if_superseded(path: Path, version: Path) -> None:
    """Delete ``version`` (one this module made) if the pointer ``path`` no longer names it and
    nobody holds it."""
    if (versions_dir(path).is_symlink() or not _VERSION_NAME.fullmatch(version.name) or not _is_ours(version)
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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
