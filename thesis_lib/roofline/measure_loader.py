"""The DataLoader's primitives over an in-RAM reader: worker start-up, the handover of a batch
from a worker, and each access mode's own Python per batch.

The in-RAM reader is the ``npy`` format on a scratch folder, read once so it is in the page cache:
a batch is a gather from memory. Start-up is a fresh loader's first batch, as loaderbench times it;
the handover is CPU time over whole epochs (:class:`CpuClock`); each mode's Python is whole epochs
in this process.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import psutil

from .. import formats, sources
from ..loading import MODES, WORKER_KINDS, make_loader
from ..tools.loaderbench.rates import warm
from .trials import BATCH, Settings, Stopwatch

HANDOVER_WORKERS = 2
PYTHON_PX = (8, 64)  # 192-byte images, whose bytes cost next to nothing, and the thesis's 64 px
MiB = 2**20


def in_ram_reader(folder: Path, px: int, batches: int):
    """An npy reader over ``batches`` batches of synthetic ``px`` px images, warm."""
    stored = folder / f"npy-{px}px-{batches}b"
    if not stored.exists():
        formats.get("npy").write(sources.load("synthetic", image_size=px, limit=batches * BATCH), stored,
                                 progress=False)
    reader = formats.get("npy").open(stored)
    warm(reader)
    return reader


class CpuClock:
    """Seconds of CPU this process has spent: ``main`` (a thread worker's main thread only, since
    thread workers share the process) and ``total`` (the process and every process it started,
    worker processes included, through psutil)."""

    def __init__(self, kind: str):
        self.kind, self.process = kind, psutil.Process()

    def read(self) -> tuple[float, float]:
        main = time.thread_time() if self.kind == "thread" else time.process_time()
        children = 0.0
        for child in self.process.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:  # a process that ended between the list and the read
                continue
            children += times.user + times.system
        return main, time.process_time() + children


def _batch_cpu_us(reader, workers: int, kind: str, epochs: int) -> tuple[float, float, float, float]:
    """(main CPU, total CPU, wall) microseconds per batch in batch mode, each the median over
    ``epochs`` whole epochs of one loader after its first batch, and that first batch's seconds."""
    loader = make_loader(reader, batch_size=BATCH, mode="batch", workers=workers, worker_kind=kind, seed=0,
                         normalize=False)
    started = time.perf_counter()
    next(iter(loader.raw_batches()))
    first_batch_s = time.perf_counter() - started
    clock, main, total, wall = CpuClock(kind), [], [], []
    try:
        for epoch in range(1, epochs + 1):
            loader.set_epoch(epoch)
            (main0, total0), wall0 = clock.read(), time.perf_counter()
            batches = sum(1 for _ in loader.raw_batches())
            (main1, total1), wall1 = clock.read(), time.perf_counter()
            main.append((main1 - main0) / batches * 1e6)
            total.append((total1 - total0) / batches * 1e6)
            wall.append((wall1 - wall0) / batches * 1e6)
    finally:
        loader.release()  # its workers gone before the next loader's are counted
    return float(np.median(main)), float(np.median(total)), float(np.median(wall)), first_batch_s


def nonnegative_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through (x, y) with neither below zero (the
    exact non-negative least squares for two coefficients): a cost is never negative."""
    slope, intercept = np.polyfit(x, y, 1)
    if intercept >= 0 and slope >= 0:
        return float(intercept), float(slope)
    # Otherwise the best feasible line lies on an edge of the quadrant: a flat line or one through 0.
    edges = [(max(0.0, float(np.mean(y))), 0.0), (0.0, max(0.0, float(np.dot(x, y) / np.dot(x, x))))]
    return min(edges, key=lambda line: float(np.sum((y - line[0] - line[1] * x) ** 2)))


def workers_trials(folder: Path, settings: Settings) -> dict[str, list[float]]:
    """``workers.startup_s.<kind>`` and, for each worker kind, two lines in the batch's MiB (fixed
    + per MiB), one value each per trial, all from CPU time, not wall time (on 2 cores the wall
    time of a run with workers is set by whichever bound binds, not by the handover alone):

    - ``handover.<kind>.*``: the main process's CPU per batch while 2 workers of the kind read
      (a thread worker's: the main thread's): what taking a batch over costs the one process
      every batch passes through;
    - ``handover.<kind>.cpu_*``: the CPU per batch of every process and thread with 2 workers,
      less that with 0 workers in the same trial: what the workers add on the machine's cores;
    - ``handover.<kind>.busy_share``: that CPU over the wall time the usable cores offered (the
      2 workers and the main process, at most every core): how much of the cores a loader of the
      kind keeps busy while its batches wait on one another, at the largest size (at the small
      ones the main process binds and the cores idle for that reason).

    Each at each of ``settings.handover_px``, over an in-RAM reader, the median of whole epochs of
    one loader. Start-up is a fresh loader's first batch with 2 workers at the smallest size."""
    with ExitStack() as stack:
        readers = {px: stack.enter_context(in_ram_reader(folder, px, settings.loader_batches))
                   for px in settings.handover_px}
        return _handover_trials(readers, settings.trials, settings.handover_epochs)


def _handover_trials(readers: dict, trials: int, epochs: int) -> dict[str, list[float]]:
    mib = np.array([BATCH * px * px * 3 / MiB for px in readers])
    smallest = min(readers)
    values: dict[str, list[float]] = {}

    def line(name: str, y: list[float]) -> None:
        fixed, per_mib = nonnegative_line(mib, np.array(y))
        values.setdefault(f"{name}fixed_us", []).append(fixed)
        values.setdefault(f"{name}us_per_mib", []).append(per_mib)

    usable = min(os.cpu_count() or 1, HANDOVER_WORKERS + 1)  # the workers and the main process
    for _ in range(trials):
        alone = {px: _batch_cpu_us(reader, 0, "process", epochs)[1] for px, reader in readers.items()}
        for kind in WORKER_KINDS:
            main, added, busy = [], [], []
            for px, reader in readers.items():
                main_us, total_us, wall_us, first_batch_s = _batch_cpu_us(reader, HANDOVER_WORKERS, kind, epochs)
                main.append(main_us)
                added.append(total_us - alone[px])
                busy.append(min(1.0, total_us / (wall_us * usable)))  # the largest size's is kept
                if px == smallest:
                    values.setdefault(f"workers.startup_s.{kind}", []).append(first_batch_s)
            line(f"handover.{kind}.", main)
            line(f"handover.{kind}.cpu_", added)
            values.setdefault(f"handover.{kind}.busy_share", []).append(busy[-1])
    return values


def python_trials(folder: Path, settings: Settings, seed: int = 0) -> dict[str, list[float]]:
    """``python.<mode>_us_per_batch`` and ``python.<mode>_us_per_mib`` for each access mode: the
    line in the batch's MiB through what the mode adds to the read at each of :data:`PYTHON_PX`,
    one value each per trial. What it adds: microseconds per batch of a whole epoch with 0 workers
    over images in RAM, less the reader's own read of as many random sorted batches into one
    buffer (resident: a gather from the set in RAM, the model's memory term), timed right after it (its Python, and what it copies beyond the read, as a stream's
    buffer does); both timed by :class:`.trials.Stopwatch` (all of it runs in this process)."""
    rng = np.random.default_rng(seed)
    mib = np.array([BATCH * px * px * 3 / MiB for px in PYTHON_PX])
    added = {mode: [[] for _ in range(settings.trials)] for mode in MODES}
    for px in PYTHON_PX:
        with in_ram_reader(folder, px, settings.loader_batches) as reader:
            out = np.empty((BATCH, *reader.image_shape), np.uint8)
            in_ram = reader.read(np.arange(len(reader)))
            for mode in MODES:
                loader = make_loader(reader, batch_size=BATCH, mode=mode, seed=seed, normalize=False)
                next(iter(loader.raw_batches()))  # its one-off set-up (resident's load) left out
                resident = in_ram if mode == "resident" else None
                for trial in range(settings.trials):
                    added[mode][trial].append(_epoch_us(loader, trial + 1)
                                              - _read_us(reader, out, rng, len(loader), resident))
    values: dict[str, list[float]] = {}
    for mode, trials in added.items():
        for y in trials:
            fixed, per_mib = nonnegative_line(mib, np.array(y))
            values.setdefault(f"python.{mode}_us_per_batch", []).append(fixed)
            values.setdefault(f"python.{mode}_us_per_mib", []).append(per_mib)
    return values


def _epoch_us(loader, epoch: int) -> float:
    """Microseconds per batch of ``loader``'s epoch ``epoch``."""
    loader.set_epoch(epoch)
    with Stopwatch() as watch:
        batches = sum(1 for _ in loader.raw_batches())
    return watch.seconds / batches * 1e6


def _read_us(reader, out: np.ndarray, rng: np.random.Generator, batches: int, resident=None) -> float:
    """Microseconds per batch of ``reader.read_into`` over ``batches`` random sorted batches (of a
    gather from ``resident``, the set in RAM, when given: the read a resident loader makes)."""
    indices = [np.sort(rng.choice(len(reader), len(out), replace=False)) for _ in range(batches)]
    with Stopwatch() as watch:
        for batch in indices:
            if resident is None:
                reader.read_into(batch, out)
            else:
                np.take(resident, batch, axis=0, out=out)
    return watch.seconds / batches * 1e6
