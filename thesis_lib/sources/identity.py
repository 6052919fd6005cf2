"""A dataset's portable identity: what its files hold, not where they lie.

A run's configuration id hashes this instead of the root's path, so the same experiment on the
same archive has one id in any folder and on any machine, and records from two machines pool as
one experiment. A zip is known by its members' names, CRC-32s and sizes (its central directory: no
member is read); a folder by its files' names and sizes (not their times, which a copy changes);
any other file (the official ``cifar-10-python.tar.gz``) by the SHA-256 of its bytes. A dataset read
from its default place (``<data root>/<name>``, no root given) is known by what that folder holds.

A folder's names and sizes do not see a file rewritten in place at the same size: enough to tell
datasets apart, not to detect tampering (reading every byte of 100,000 images on each sweep point
would cost more than the run).
"""
from __future__ import annotations

import functools
import os
import stat
import zipfile
from pathlib import Path

from ..core.errors import SourceError
from .download import DOWNLOADABLE, dataset_root, file_digest
from .stores import DirStore, ZipStore


def data_identity(dataset: str, root: str | os.PathLike | None) -> str | None:
    """What a run reads: :func:`content_id` of ``root``, or of the dataset's default folder when
    no root is given; None for a dataset with no files (generated)."""
    if root is None:
        if dataset not in DOWNLOADABLE:
            return None
        root = dataset_root(None, dataset)
    return content_id(root)


def content_id(root: str | os.PathLike) -> str:
    """The identity of what ``root`` holds. A root that is not there is named by its path: no run
    can read it, but a sweep must still name the point it skips."""
    path = Path(root).expanduser().resolve()
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"absent:{path}"
    except OSError as error:
        raise SourceError(f"{root}: cannot read it ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):  # listed every time: a file changed deep inside leaves the folder's time alone
        return "files:" + DirStore(path).content_id()
    return _file_content_id(str(path), info.st_size, info.st_mtime_ns)


# Keyed by the file's size and time as well, so a changed file is read again; a sweep asks for the
# same roots over and over.
@functools.lru_cache(maxsize=64)
def _file_content_id(path: str, size: int, mtime_ns: int) -> str:
    if zipfile.is_zipfile(path):
        return "zip:" + ZipStore(Path(path)).content_id()
    return "sha256:" + file_digest(Path(path), "sha256")[:16]
