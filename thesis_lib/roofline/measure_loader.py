"""The DataLoader's primitives over an in-RAM reader: worker start-up, the handover of a batch
from a worker, and each access mode's own Python per batch.

The in-RAM reader is the ``npy`` format on a scratch folder, read once so it is in the page cache:
a batch is a gather from memory. Start-up and handover come from
:func:`..tools.loaderbench.rates.loader_rates`, loaderbench's own timing (a fresh loader, its first
batch timed, then whole epochs); each mode's Python from whole epochs in this process.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .. import formats, sources
from ..loading import MODES, WORKER_KINDS, make_loader
from ..tools.loaderbench.rates import loader_rates, warm
from .trials import BATCH, Settings, Stopwatch

HANDOVER_WORKERS = 2
PYTHON_PX = 8  # 192-byte images: a batch's bytes cost next to nothing beside its Python
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


def _batch_us(reader, workers: int, kind: str, epochs: int) -> tuple[float, float]:
    """Microseconds per batch in batch mode (the median of ``epochs`` whole epochs after a fresh
    loader's first batch), and that first batch's seconds."""
    rates, first_batch_s = loader_rates(reader, "batch", workers, epochs, None, worker_kind=kind)
    return float(np.median([BATCH / rate * 1e6 for rate in rates])), first_batch_s


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
    """``workers.startup_s.<kind>``, ``handover.<kind>.fixed_us`` and ``.us_per_mib`` for each
    worker kind, one value per trial. The handover is the time per batch with 2 workers of the
    kind less the time with 0 workers (each the median of whole epochs of one loader), in the
    same trial, at each of ``settings.handover_px``; the line through those is fitted per trial.
    Start-up is a fresh loader's first batch with 2 workers at the smallest size."""
    with ExitStack() as stack:
        readers = {px: stack.enter_context(in_ram_reader(folder, px, settings.loader_batches))
                   for px in settings.handover_px}
        return _handover_trials(readers, settings.trials, settings.handover_epochs)


def _handover_trials(readers: dict, trials: int, epochs: int) -> dict[str, list[float]]:
    mib = np.array([BATCH * px * px * 3 / MiB for px in readers])
    smallest = min(readers)
    values = {}
    for _ in range(trials):
        base = {px: _batch_us(reader, 0, "process", epochs)[0] for px, reader in readers.items()}
        for kind in WORKER_KINDS:
            extra = []
            for px, reader in readers.items():
                per_batch, first_batch_s = _batch_us(reader, HANDOVER_WORKERS, kind, epochs)
                extra.append(per_batch - base[px])
                if px == smallest:
                    values.setdefault(f"workers.startup_s.{kind}", []).append(first_batch_s)
            fixed, per_mib = nonnegative_line(mib, np.array(extra))
            values.setdefault(f"handover.{kind}.fixed_us", []).append(fixed)
            values.setdefault(f"handover.{kind}.us_per_mib", []).append(per_mib)
    return values


def python_trials(folder: Path, settings: Settings, seed: int = 0) -> dict[str, list[float]]:
    """``python.<mode>_us_per_batch`` for each access mode: microseconds per batch of a whole epoch
    with 0 workers over 8 px images in RAM, less the reader's own read of as many random sorted
    batches into one buffer, timed right after it: what the mode adds to the read. One value per
    epoch; both timed by :class:`.trials.Stopwatch` (all of it runs in this process)."""
    rng = np.random.default_rng(seed)
    values = {}
    with in_ram_reader(folder, PYTHON_PX, settings.loader_batches) as reader:
        out = np.empty((BATCH, *reader.image_shape), np.uint8)
        for mode in MODES:
            loader = make_loader(reader, batch_size=BATCH, mode=mode, seed=seed, normalize=False)
            next(iter(loader.raw_batches()))  # its one-off set-up (resident's load) left out
            values[f"python.{mode}_us_per_batch"] = [
                max(0.0, _epoch_us(loader, epoch) - _read_us(reader, out, rng, len(loader)))
                for epoch in range(1, settings.trials + 1)]
    return values


def _epoch_us(loader, epoch: int) -> float:
    """Microseconds per batch of ``loader``'s epoch ``epoch``."""
    loader.set_epoch(epoch)
    with Stopwatch() as watch:
        batches = sum(1 for _ in loader.raw_batches())
    return watch.seconds / batches * 1e6


def _read_us(reader, out: np.ndarray, rng: np.random.Generator, batches: int) -> float:
    """Microseconds per batch of ``reader.read_into`` over ``batches`` random sorted batches."""
    indices = [np.sort(rng.choice(len(reader), len(out), replace=False)) for _ in range(batches)]
    with Stopwatch() as watch:
        for batch in indices:
            reader.read_into(batch, out)
    return watch.seconds / batches * 1e6
