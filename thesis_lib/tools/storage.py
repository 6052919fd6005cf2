"""The storage a dataset folder lives on, measured once per machine and folder.

:func:`measure` writes a scratch file of ``size_mb`` MiB of random bytes into the folder under a
hidden name, syncs it, and reads it back:

- ``seq_read_mb_s``: 1 MiB reads from the start, cold;
- ``rand4k_*``, ``rand64k_*``: 4 KiB and 64 KiB reads at random aligned offsets, cold, one at a time
  (IOPS, and the mean time of one read in microseconds);
- ``page_cache_gb_s``: the whole file read again, warm.

Cold means O_DIRECT (``method`` "o_direct"), or where the file system refuses it a buffered read
after evicting the file, with POSIX_FADV_RANDOM for the random phases ("evicted"). Each figure is
the median of 3 trials; each cold phase (sequential, 4 KiB, 64 KiB) gets ``budget_s`` seconds,
split evenly over its trials, so a slow disk makes for fewer reads rather than a longer check.
On tmpfs, or wherever eviction leaves the file cached, reads never reach a disk: the disk figures
are None, ``method`` is "memory" and ``note`` says why. MB and GB are 10**6 and 10**9 bytes.

:func:`fio_figures` runs the same cold jobs with fio, to check ours against.
"""
from __future__ import annotations

import errno
import json
import math
import mmap
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from statistics import median

import numpy as np

from .. import __version__
from ..core import cache, machine, paths, record
from ..core.errors import ThesisLabError

DEFAULT_SIZE_MB = 256
DEFAULT_BUDGET_S = 1.0
TRIALS = 3
BLOCK = 1 << 20
CACHE_FILE = "storage-check.json"
DISK_KEYS = ("seq_read_mb_s", "rand4k_iops", "rand4k_latency_us", "rand64k_iops", "rand64k_latency_us")
FIGURE_KEYS = (*DISK_KEYS, "page_cache_gb_s")
WRITE_ERRORS = {errno.EROFS: "is read-only", errno.EACCES: "is not writable", errno.EPERM: "is not writable",
                errno.ENOSPC: "has no space left", errno.EDQUOT: "is over its disk quota"}


class StorageError(ThesisLabError, OSError):
    """The folder cannot be measured (read-only, full), or fio is missing or failed."""


def storage_figures(folder=None, *, refresh: bool = False, size_mb: int = DEFAULT_SIZE_MB,
                    budget_s: float = DEFAULT_BUDGET_S) -> dict:
    """The figures of ``folder`` (default: the data root) on this machine: from the cache in the
    data root, or measured (:func:`measure`) and cached when absent or when ``refresh``. A cached
    entry is returned whatever ``size_mb`` it was measured with."""
    folder, _ = _folder(folder), _size_bytes(size_mb)
    cache_file = paths.data_root() / CACHE_FILE
    known = _read_cache(cache_file)
    key = machine_key(folder)
    if refresh or not isinstance(known.get(key), dict):
        known[key] = measure(folder, size_mb=size_mb, budget_s=budget_s)
        record.write_json(cache_file, known)
    return known[key]


def cached_figures(folder=None) -> dict | None:
    """The figures :func:`storage_figures` cached for ``folder`` (default: the data root) on this
    machine, or None: never measures. Every record's environment carries them."""
    folder = paths.data_root() if folder is None else Path(folder).expanduser()
    if not folder.is_dir():
        return None
    figures = _read_cache(paths.data_root() / CACHE_FILE).get(machine_key(folder.resolve()))
    return figures if isinstance(figures, dict) else None


def machine_key(folder: Path) -> str:
    """This machine (host name, machine id, CPU) and the file system and path of ``folder``."""
    try:
        machine_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine_id = "no-machine-id"
    return (f"{socket.gethostname()} | {machine_id} | {machine.cpu_model()} | "
            f"dev {os.stat(folder).st_dev} | {folder.resolve()}")


def measure(folder=None, *, size_mb: int = DEFAULT_SIZE_MB, budget_s: float = DEFAULT_BUDGET_S) -> dict:
    """Measure ``folder`` (default: the data root) now, on a scratch file removed afterwards."""
    figures = measure_trials(folder, size_mb=size_mb, budget_s=budget_s)
    runs = figures.pop("trial_values")
    return {**figures, **{key: median(values) if values else None for key, values in runs.items()}}


def measure_trials(folder=None, *, size_mb: int = DEFAULT_SIZE_MB, budget_s: float = DEFAULT_BUDGET_S,
                   trials: int = TRIALS) -> dict:
    """:func:`measure`, with each figure's ``trials`` values (one per trial) under ``trial_values``
    in place of their medians; a disk figure's list is empty where eviction is impossible."""
    folder, size = _folder(folder), _size_bytes(size_mb)
    scratch = folder / f".storage-check-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _write_scratch(scratch, size)
        cache.evict(scratch)
        still_cached = cache.resident_fraction(scratch)
        # The same rule a run's cold epochs are judged by: evicted unless more than the limit stayed cached.
        evictable = cache.can_evict(folder) and cache.cache_state("cold", [still_cached]) == "cold"
        method, runs = _disk_trials(scratch, size, budget_s, trials) if evictable else ("memory", {})
        runs["page_cache_gb_s"] = _page_cache_trials(scratch, size, trials)
    finally:
        scratch.unlink(missing_ok=True)
    fstype = cache.filesystem(folder)
    return {"trial_values": {key: runs.get(key, []) for key in FIGURE_KEYS}, "method": method,
            "filesystem": fstype, "memory_backed": fstype in cache.MEMORY_FILESYSTEMS,
            "evictable": evictable, "note": _note(method, fstype, still_cached),
            "folder": str(folder), "size_mb": size_mb, "budget_s": budget_s, "trials": trials,
            "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tool_version": f"thesis_lib {__version__}"}


def _folder(folder) -> Path:
    path = paths.data_root() if folder is None else Path(folder).expanduser()
    if not path.exists():
        raise ValueError(f"storage folder {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"storage folder {path} is not a folder")
    return path.resolve()


def _size_bytes(size_mb) -> int:
    if isinstance(size_mb, bool) or not isinstance(size_mb, int) or size_mb <= 0:
        raise ValueError(f"size_mb must be a positive whole number of MiB, got {size_mb!r}")
    return size_mb * BLOCK


def _read_cache(cache_file: Path) -> dict:
    """The cached figures by :func:`machine_key`; {} with a warning when the file is corrupt."""
    try:
        known = json.loads(cache_file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        known = exc
    if not isinstance(known, dict):
        why = known if isinstance(known, Exception) else f"it holds a JSON {type(known).__name__}"
        warnings.warn(f"{cache_file} is not a storage-check cache ({why}); measuring again", stacklevel=3)
        return {}
    return known


def _write_scratch(scratch: Path, size: int) -> None:
    """``size`` random bytes, synced: a file system cannot compress or skip them."""
    rng = np.random.default_rng()
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for _ in range(size // BLOCK):
                view = memoryview(rng.bytes(BLOCK))
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        raise StorageError(exc.errno, f"cannot measure {scratch.parent}: the folder {WRITE_ERRORS[exc.errno]} "
                                      f"({exc.strerror})") from exc


def _disk_trials(scratch: Path, size: int, budget_s: float, trials: int) -> tuple[str, dict]:
    """The cold reading method, and each disk figure's value in each of ``trials`` trials."""
    fd, method = _open_cold(scratch)
    figures = {}
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        runs = _trials(fd, BLOCK, partial(range, 0, size, BLOCK), budget_s, trials, scratch)
        figures["seq_read_mb_s"] = [reads * BLOCK / 1e6 / busy for reads, busy in runs]
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no readahead: each read costs what it asks
        for name, block in (("rand4k", 4096), ("rand64k", 65536)):
            runs = _trials(fd, block, partial(_random_offsets, size, block), budget_s, trials, scratch)
            figures[f"{name}_iops"] = [reads / busy for reads, busy in runs]
            figures[f"{name}_latency_us"] = [busy / reads * 1e6 for reads, busy in runs]
    finally:
        os.close(fd)
    return method, figures


def _open_cold(scratch: Path) -> tuple[int, str]:
    """A descriptor whose reads skip the page cache (O_DIRECT), else a plain one (:func:`_trials` evicts)."""
    fd = None
    try:
        fd = os.open(scratch, os.O_RDONLY | os.O_DIRECT)
        with mmap.mmap(-1, mmap.PAGESIZE) as probe:
            os.preadv(fd, [probe], 0)  # some file systems take O_DIRECT at open and refuse the read
        return fd, "o_direct"
    except OSError as exc:
        if fd is not None:
            os.close(fd)
        if exc.errno != errno.EINVAL:
            raise
    return os.open(scratch, os.O_RDONLY), "evicted"


def _random_offsets(size: int, block: int):
    """Endless ``block``-aligned offsets at random within ``size`` bytes."""
    while True:
        yield random.randrange(size // block) * block


def _page_cache_trials(scratch: Path, size: int, trials: int) -> list[float]:
    fd = os.open(scratch, os.O_RDONLY)
    try:
        whole = partial(range, 0, size, BLOCK)
        _timed_reads(fd, bytearray(BLOCK), whole(), math.inf)  # makes the file warm
        runs = _trials(fd, BLOCK, whole, math.inf, trials)
    finally:
        os.close(fd)
    return [reads * BLOCK / 1e9 / busy for reads, busy in runs]


def _trials(fd: int, block: int, offsets, budget_s: float, trials: int, cold_file: Path | None = None) -> list:
    """``trials`` timed passes of ``block``-byte reads at ``offsets()``, each stopped after
    budget_s / trials seconds; ``cold_file`` is evicted before each. [(reads, seconds spent reading)]."""
    runs = []
    with mmap.mmap(-1, block) as buf:  # page-aligned, as O_DIRECT needs
        for _ in range(trials):
            if cold_file is not None:
                cache.evict(cold_file)
            runs.append(_timed_reads(fd, buf, offsets(), budget_s / trials))
    return runs


def _timed_reads(fd: int, buf, offsets, budget_s: float) -> tuple[int, float]:
    reads, busy, deadline = 0, 0.0, time.perf_counter() + budget_s
    for offset in offsets:
        start = time.perf_counter()
        os.preadv(fd, [buf], offset)
        end = time.perf_counter()
        reads, busy = reads + 1, busy + end - start
        if end >= deadline:
            break
    return reads, busy


def _note(method: str, fstype: str, still_cached: float) -> str:
    if method == "o_direct":
        return "Disk figures read with O_DIRECT, past the page cache; page_cache_gb_s is the same file read warm."
    if method == "evicted":
        return ("O_DIRECT was refused, so disk figures are buffered reads after evicting the file from the page "
                "cache (POSIX_FADV_RANDOM for random reads); repeated random blocks may hit the cache.")
    if fstype in cache.MEMORY_FILESYSTEMS:
        return (f"The folder is on {fstype}, which keeps files in memory: there is no disk to measure, "
                "only page_cache_gb_s.")
    return (f"Eviction left {still_cached:.0%} of the scratch file cached on {fstype}, so reads never reach the "
            "disk: disk figures are not given, only page_cache_gb_s.")


def fio_figures(folder=None, *, size_mb: int = DEFAULT_SIZE_MB, runtime_s: float = DEFAULT_BUDGET_S) -> dict:
    """fio's figures for the cold jobs of :func:`measure` (psync, direct=1, iodepth 1, ``runtime_s``
    each), on a scratch file in ``folder`` removed afterwards."""
    folder, _ = _folder(folder), _size_bytes(size_mb)
    fio = shutil.which("fio")
    if fio is None:
        raise StorageError(errno.ENOENT, "fio is not on PATH (install it, e.g. apt-get install fio)")
    scratch = folder / f".storage-check-fio-{os.getpid()}-{secrets.token_hex(4)}"
    jobs = [("seq", "read", "1M"), ("rand4k", "randread", "4k"), ("rand64k", "randread", "64k")]
    command = [fio, "--output-format=json", f"--filename={scratch}", f"--size={size_mb}M", "--direct=1",
               "--ioengine=psync", "--iodepth=1", "--time_based", f"--runtime={round(runtime_s * 1000)}ms"]
    for name, rw, bs in jobs:
        command += [f"--name={name}", f"--rw={rw}", f"--bs={bs}", "--stonewall"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120 + 10 * runtime_s)
    finally:
        scratch.unlink(missing_ok=True)
    if done.returncode != 0:
        raise StorageError(f"fio failed on {folder}: {(done.stderr or done.stdout).strip()[-500:]}")
    out = json.loads(done.stdout[done.stdout.index("{"):])
    read = {job["jobname"]: job["read"] for job in out["jobs"]}
    figures = {"seq_read_mb_s": read["seq"]["bw_bytes"] / 1e6, "page_cache_gb_s": None}
    for name in ("rand4k", "rand64k"):
        figures[f"{name}_iops"] = read[name]["iops"]
        figures[f"{name}_latency_us"] = read[name]["lat_ns"]["mean"] / 1e3
    fstype = cache.filesystem(folder)
    note = (f"The folder is on {fstype}: fio's direct=1 reads there come from memory, not a disk."
            if fstype in cache.MEMORY_FILESYSTEMS else None)
    return {**figures, "method": "fio psync direct=1", "filesystem": fstype, "note": note, "folder": str(folder),
            "size_mb": size_mb, "runtime_s": runtime_s, "tool_version": out.get("fio version")}


def format_table(ours: dict, theirs: dict | None = None) -> str:
    """Our figures (and fio's, when given) as a small table, then our note."""
    def cell(value):
        return "-" if value is None else f"{value:,.2f}"
    head = f"{ours['folder']} ({ours['filesystem']}, {ours['method']}, {ours['size_mb']} MiB, {ours['measured']})"
    lines = [head, f"{'figure':<20}{'ours':>14}" + (f"{'fio':>14}" if theirs else "")]
    for key in FIGURE_KEYS:
        lines.append(f"{key:<20}{cell(ours[key]):>14}" + (f"{cell(theirs[key]):>14}" if theirs else ""))
    notes = [f"note: {ours['note']}"] + ([f"fio note: {theirs['note']}"] if theirs and theirs["note"] else [])
    return "\n".join(lines + notes)
