"""A benchmark record: the keys it holds (:class:`Record`; its check is :mod:`.record_check`), the one way this project writes a file atomically
(:func:`write_text`, and :func:`write_json` over it), the machine a measurement ran on
(:func:`environment`) and the few figures a person reads first (:func:`headline`).

Records, loaderbench and convertbench results, format manifests, report tables and a sweep's error
notes are all written here: to a temporary sibling, flushed and synced, then renamed over the
target, so a reader finds the old file or the new one, never a part of one.
"""
# No ``from __future__ import annotations``: TypedDict reads Required[] from evaluated annotations.
import contextlib
import errno
import json
import math
import os
import secrets
import shutil
from pathlib import Path
from typing import Required, TypedDict

import numpy as np

from . import machine, paths
from .errors import ThesisLabError


class Epoch(TypedDict, total=False):
    """One measured epoch (:func:`thesis_lib.training.fit`, numbered by :func:`thesis_lib.run.bench.run`)."""
    repeat: int
    epoch: int
    wall_s: float
    data_wait_s: float
    first_batch_s: float  # the wait for the first batch
    compute_s: float
    samples: int
    samples_per_s: float
    samples_per_s_total: float  # summed over ranks when distributed
    au: float | None  # compute / wall; None for a loader-only run
    au_mlperf: float | None  # compute / (wall - first_batch_s): MLPerf Storage's AU, the first step's I/O left out
    warmup: bool  # start-up: left out of the steady-state figures
    queue_steps: int  # steps the host may run ahead of the accelerator (0: synchronous)
    peak_rss_mb: float
    loss: float | None  # None under an emulated accelerator
    cold: bool
    cached_fraction: float | None


class Record(TypedDict, total=False):
    """The JSON record one benchmark run leaves (:func:`thesis_lib.run.bench.run` writes it,
    :mod:`thesis_lib.results` reads folders of them). A file without every ``Required`` key is not
    a record; older records may lack others."""
    run: Required[str]
    config_id: str
    config: dict  # BenchConfig.identity(): every setting that changes the measurement
    created: str
    # The configuration, as in ``config`` (``image_size`` and ``cache`` as measured, ``epochs`` below)
    dataset: Required[str]
    data: str | None  # what the root holds (sources.identity.content_id): the identity, where root is the place
    root: str | None
    image_size: Required[int]
    limit: int | None
    fmt: Required[str]
    write_options: dict
    open_options: dict
    storage: str  # local, or s3 (records from before it: local)
    storage_options: dict  # storage s3: latency_ms, bandwidth_mbps, concurrency
    storage_endpoint: str | None  # storage s3: the endpoint given; None: a private server for the run
    fmt_options: dict  # records from before write and open options were split: the write options
    access: Required[str]
    model: Required[str]
    epochs: Required[list[Epoch]]
    warmup_epochs: int  # the first epochs of each repeat, start-up
    batch_size: int
    workers: int
    device: str
    cache: str  # warm | cold | cold-unavailable
    emulate_rate: float | None
    repeats: int
    seed: int
    lr: float | None
    eval_limit: int | None
    distributed: bool
    queue_steps: int  # only when not 0: a field added later is left out at its old value (config.ADDED_LATER)
    worker_kind: str  # only "thread" or "ring", with workers: process workers (the default) leave it out, as above
    # What was measured
    source_name: str
    n_train: int
    num_classes: int
    lossless: bool
    block_size: int
    source_spec: dict
    world_size: int
    h100_demand: float
    h100_demand_extrapolated: bool
    per_repeat: list[dict]  # protocol.repeat_summaries, plus loader_setup_s: the units the medians are over
    # Medians over repeats of each repeat's steady-state mean, with bootstrap 95% intervals
    epoch_time_s_median: float
    epoch_time_s_ci95: list[float]
    samples_per_s_median: float
    samples_per_s_ci95: list[float]
    au_median: float | None
    au_ci95: list[float | None]
    au_mlperf_median: float | None
    au_mlperf_ci95: list[float | None]
    startup_s_median: float | None  # the warm-up epochs of a repeat
    startup_s_ci95: list[float | None]
    startup_first_batch_s_median: float | None
    data_wait_s_median: float
    bytes_on_disk: int
    convert_s: float
    converted_reused: bool
    peak_rss_mb: float
    accuracy: float | None
    f1_macro: float | None
    accuracy_per_repeat: list[float]
    env: dict  # environment()


class WriteError(ThesisLabError, OSError):
    """A file could not be written (disk full, read-only folder, name too long); the message names
    the path. An OSError still, with the original ``errno``."""

    def __str__(self) -> str:
        return str(self.strerror)


def environment() -> dict:
    """The machine a measurement runs on (:func:`thesis_lib.core.machine.environment` of the data folder),
    with its storage figures where they were measured (``storage``: :func:`thesis_lib.tools.storage.cached_figures`)."""
    from ..tools.storage import cached_figures  # storage writes through this module

    return {**machine.environment(paths.data_root()), "storage": cached_figures()}


def headline(record: Record) -> dict:
    """The few figures a person reads first."""
    keys = ("run", "epoch_time_s_median", "epoch_time_s_ci95", "samples_per_s_median", "au_median",
            "bytes_on_disk", "convert_s", "accuracy", "f1_macro", "path")
    return {k: record.get(k) for k in keys}


def json_default(obj):
    """JSON for what :mod:`json` does not know (its ``default``): NumPy scalars and arrays as
    numbers and lists, paths as text; TypeError for anything else."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as strict JSON (indented; NaN and infinities as null), atomically (:func:`write_text`)."""
    write_text(path, json.dumps(_strict(obj), indent=2, default=json_default, allow_nan=False))


# Why a write failed, in words, where the system's own message does not say what to do.
WRITE_ADVICE = {errno.ENOSPC: "the disk is full; free some space", errno.EDQUOT: "the disk quota is used up",
                errno.EROFS: "the file system is read-only", errno.EACCES: "no permission to write there",
                errno.EPERM: "no permission to write there",
                errno.ENAMETOOLONG: "the file name is longer than the file system allows"}
# The temporary file's name keeps at most this much of the target's, so a name the file system
# takes never gets a temporary name it refuses.
TEMP_NAME_KEEPS = 180


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`write_bytes`, UTF-8)."""
    write_bytes(path, text.encode())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: into a new temporary file in the same folder (created
    when missing), flushed and synced, then renamed over ``path``. On any error the temporary file
    is removed and whatever ``path`` held is left as it was; a full disk, a read-only folder or a
    name too long raise :class:`WriteError` naming ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name[:TEMP_NAME_KEEPS]}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open, not mkstemp: the file gets the usual permissions (0o666 less the umask), not 0o600.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in WRITE_ADVICE:
            raise WriteError(exc.errno, f"cannot write {path}: {exc.strerror} ({WRITE_ADVICE[exc.errno]})") from None
        raise


def check_writable(folder: str | os.PathLike, *, what: str, name: str | None = None, min_free: int = 0) -> None:
    """ValueError naming ``folder`` (``what`` it is: "results folder") unless files can be written
    there: created when missing, writable, with ``min_free`` bytes free, and ``name`` (the file to
    come) no longer than the file system allows (NAME_MAX). For checks before long work, so it
    fails at the start rather than after an hour."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what} {folder}: cannot create it ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{what} {folder}: not writable (make it writable, or choose another folder)")
    if min_free:
        free = shutil.disk_usage(folder).free
        if free < min_free:
            raise ValueError(f"{what} {folder}: only {free / 2**20:.1f} MiB free, at least {min_free / 2**20:.0f} MiB "
                             "needed; free some space")
    if name is not None:
        limit = os.pathconf(folder, "PC_NAME_MAX")
        if len(os.fsencode(name)) > limit:
            raise ValueError(f"{what} {folder}: the file name {name[:60]}... is {len(os.fsencode(name))} bytes, more "
                             f"than its file system allows ({limit}); shorten what names it (a dataset folder's name)")


def _strict(obj):
    """``obj`` with NaN and infinities as None (JSON null), NumPy values as Python ones and tuples
    as lists: strict JSON has no such numbers."""
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _strict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(value) for value in obj]
    return obj
