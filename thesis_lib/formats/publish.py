"""Publishing a converted dataset atomically: immutable versions behind one swapped pointer.

The dataset a user names ``P`` is a symbolic link ``P -> .P.versions/<version>``. A writer builds
its copy in ``.P.partial-<pid>-<random>``, moves it into ``.P.versions/`` and points ``P`` at it by
renaming a new link over the old one. ``rename`` is atomic, so whoever resolves ``P`` finds the
old complete version or the new one, never nothing; two writers of the same dataset both succeed
and the last one's version stays. A version is never changed once published. Which superseded
versions are deleted, and when, is :mod:`.version_locks`; the folders' names, their marker and
the clean-up after killed writers are :mod:`.version_folders`.

A plain directory at ``P`` (written before versions existed) still opens; overwriting it moves it
into ``.P.versions/`` first, which leaves ``P`` missing for the moment between two renames.
"""
from __future__ import annotations

import errno
import os
import secrets
import time
from pathlib import Path

from .version_folders import check_not_linked, delete, is_dataset_dir, mark, versions_dir
from .version_locks import collect, hold


def publish(tmp: Path, path: Path, overwrite: bool) -> Path:
    """Move the finished build ``tmp`` into a new version and point ``path`` at it; delete the
    superseded versions no reader holds. Returns the version folder."""
    versions = versions_dir(path)
    check_not_linked(path)  # again: a link may have appeared while the copy was being built
    versions.mkdir(exist_ok=True)
    version = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(4)}"
    mark(tmp)  # again, in case the format's writer emptied the folder it was given
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
    mark(path)
    os.rename(path, versions_dir(path) / f"unversioned-{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
