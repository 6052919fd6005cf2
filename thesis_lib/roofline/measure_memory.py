"""Memory and storage primitives: a random gather from RAM, and the storage check's figures."""
from __future__ import annotations

import numpy as np

from ..tools import storage
from .trials import BATCH, Settings, Stopwatch

ROW_BYTES = 64 * 64 * 3  # one 64 px image: the "rows of 12 KiB" of memory.gather_gbps
GATHER_BATCHES = 16  # batches timed together in one trial
#: Each storage primitive, by the storage check's figure it takes.
STORAGE_FIGURES = {"storage.seq_mbps": "seq_read_mb_s", "storage.latency_4k_us": "rand4k_latency_us",
                   "storage.iops_4k": "rand4k_iops", "page_cache.read_gbps": "page_cache_gb_s"}


def gather_gbps(settings: Settings, seed: int = 0) -> list[float]:
    """GB/s (10**9 bytes) of random batches of 512 sorted rows gathered into one reused buffer
    (``np.take(..., out=)``, as the loader gathers a batch out of its chunks' images), one value
    per trial."""
    rng = np.random.default_rng(seed)
    rows = settings.gather_rows
    array = np.frombuffer(rng.bytes(rows * ROW_BYTES), np.uint8).reshape(rows, ROW_BYTES)
    out = np.empty((min(BATCH, rows), ROW_BYTES), np.uint8)
    np.take(array, np.arange(len(out)), axis=0, out=out)  # the buffer's pages faulted in before timing
    values = []
    for _ in range(settings.trials):
        batches = [np.sort(rng.choice(rows, len(out), replace=False)) for _ in range(GATHER_BATCHES)]
        with Stopwatch() as watch:
            for indices in batches:
                np.take(array, indices, axis=0, out=out)
        values.append(GATHER_BATCHES * out.nbytes / 1e9 / watch.seconds)
    return values


def index_gbps(settings: Settings, seed: int = 1) -> list[float]:
    """GB/s of random batches of 512 sorted rows taken by NumPy indexing (``array[rows]``, a fresh
    array each batch), as the resident mode and the in-RAM baseline gather; one value per trial."""
    rng = np.random.default_rng(seed)
    rows = settings.gather_rows
    array = np.frombuffer(rng.bytes(rows * ROW_BYTES), np.uint8).reshape(rows, ROW_BYTES)
    batch = min(BATCH, rows)
    values = []
    for _ in range(settings.trials):
        batches = [np.sort(rng.choice(rows, batch, replace=False)) for _ in range(GATHER_BATCHES)]
        with Stopwatch() as watch:
            for indices in batches:
                array[indices]
        values.append(GATHER_BATCHES * batch * ROW_BYTES / 1e9 / watch.seconds)
    return values


def storage_trials(settings: Settings, folder) -> tuple[dict, dict, dict]:
    """The storage check on ``folder``: (values per trial by primitive, reasons of the primitives it
    could not measure, what it says about the folder)."""
    figures = storage.measure_trials(folder, size_mb=settings.storage_mb, budget_s=settings.storage_budget_s,
                                     trials=settings.trials)
    values, unmeasured = {}, {}
    for name, key in STORAGE_FIGURES.items():
        if figures["trial_values"][key]:
            values[name] = figures["trial_values"][key]
        else:
            unmeasured[name] = f"{figures['folder']} ({figures['filesystem']}): {figures['note']}"
    about = {key: figures[key] for key in ("folder", "filesystem", "method", "evictable", "note", "size_mb")}
    return values, unmeasured, about
