"""The page cache: evict a dataset's files before a cold epoch, and check how much of them is cached.

>>> evict(reader.files())
>>> resident_fraction(reader.files())   # near 0.0 after eviction, near 1.0 after a full read

Eviction is ``posix_fadvise(POSIX_FADV_DONTNEED)``: the kernel drops the file's clean cached pages.
Dirty pages (written but not yet on disk) are not dropped, so :func:`evict` syncs each file first.
On tmpfs (and other memory-backed file systems) the page cache *is* the storage and nothing can be
evicted; :func:`filesystem` tells which file system a path lives on, so callers can say so.
The residency check is ``mincore(2)`` on a fresh read-only mapping (through ctypes): it reads the
kernel's page table, not a timing, so it is exact and cheap.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: File systems whose files live in memory: eviction cannot drop their pages.
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"})
#: An epoch whose files were still cached above this fraction after eviction was not cold.
COLD_CACHED_LIMIT = 0.5

PROT_READ, MAP_SHARED = 0x1, 0x01
MAP_FAILED = ctypes.c_void_p(-1).value


def _files(paths) -> list[Path]:
    """Every regular file named by ``paths`` (a path or several; directories are walked)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for path in map(Path, paths):
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def evict(paths: str | os.PathLike | Iterable) -> int:
    """Drop the files' pages from the page cache (syncing dirty pages first); returns bytes covered."""
    if not hasattr(os, "posix_fadvise"):
        raise OSError("cache.evict needs os.posix_fadvise, which this platform lacks")
    total = 0
    for file in _files(paths):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            total += os.fstat(fd).st_size
        finally:
            os.close(fd)
    return total


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    return libc


def _check(result: int, call: str, file: Path) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{call} failed on {file}: {os.strerror(errno)}")


def resident_pages(file: Path, libc: ctypes.CDLL | None = None) -> tuple[int, int]:
    """``(cached pages, total pages)`` of one file, by mincore(2)."""
    libc = libc or _libc()
    size = os.path.getsize(file)
    if size == 0:
        return 0, 0
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    fd = os.open(file, os.O_RDONLY)
    try:
        addr = libc.mmap(None, size, PROT_READ, MAP_SHARED, fd, 0)
        if addr in (None, MAP_FAILED):
            _check(-1, "mmap", file)
        try:
            vec = np.zeros(pages, dtype=np.uint8)
            _check(libc.mincore(addr, size, vec.ctypes.data), "mincore", file)
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return int(np.count_nonzero(vec & 1)), pages


def resident_fraction(paths: str | os.PathLike | Iterable) -> float:
    """Fraction of the files' pages now in the page cache (0.0 for no pages at all)."""
    libc = _libc()
    cached = total = 0
    for file in _files(paths):
        file_cached, file_total = resident_pages(file, libc)
        cached += file_cached
        total += file_total
    return cached / total if total else 0.0


def filesystem(path: str | os.PathLike) -> str:
    """The type of the file system holding ``path`` (``"ext4"``, ``"tmpfs"``...), from /proc/mounts."""
    path = Path(path).resolve()
    best, fstype = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return fstype
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        if (path == Path(mount_point) or Path(mount_point) in path.parents) and len(mount_point) > len(best):
            best, fstype = mount_point, fields[2]
    return fstype


def can_evict(path: str | os.PathLike) -> bool:
    """Whether eviction means anything for files under ``path`` (not a memory-backed file system)."""
    return filesystem(path) not in MEMORY_FILESYSTEMS


def cache_state(requested: str, cached_fractions: Iterable[float | None]) -> str:
    """What a run asking for ``requested`` ("warm" or "cold") read from: ``"cold-unavailable"``
    when it asked for cold but an eviction left more than ``COLD_CACHED_LIMIT`` of the files
    cached (a memory-backed file system), else ``requested``. ``cached_fractions``: what
    :func:`resident_fraction` found after each eviction; None (or NaN) where none was measured."""
    if requested == "cold" and any(f is not None and f > COLD_CACHED_LIMIT for f in cached_fractions):
        return "cold-unavailable"
    return requested
