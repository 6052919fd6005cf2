"""How loaderbench measures: samples/s of a stream of batches, for the in-RAM limit, a loader in
one access mode, a plain slice, the peer ImageFolder and one core's PNG decode; and the workers a
loader needs to reach a demand."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ... import loading
from .. import peer

BATCH = 512


def time_batches(make_batches, n_batches: int | None = None, max_seconds: float = 3.0) -> float:
    """Samples/s over the first ``n_batches`` batches of ``make_batches()`` (all of them when None;
    fewer if ``max_seconds`` run out), timed from the request for the iterator. (A loader's
    ``raw_batches()`` first collects what persistent workers still read for an epoch cut short by
    ``max_seconds``: work that training, which never cuts an epoch, does not have.)"""
    # The clock starts before the iterator is made: workers start reading when it is (a DataLoader's
    # prefetch, a thread pipeline's first items), and those reads are the epoch's.
    start, samples = time.perf_counter(), 0
    batches = make_batches()
    for k, (images, _) in enumerate(batches):
        samples += len(images)
        if k + 1 == n_batches or time.perf_counter() - start > max_seconds:
            break
    return samples / (time.perf_counter() - start)


def ram_baseline(images: np.ndarray, n_batches: int | None, seed: int) -> float:
    """(a) The in-RAM limit: random batches gathered from an array already in memory (an epoch's
    worth unless ``n_batches`` is given)."""
    rng = np.random.default_rng(seed)
    n_batches = n_batches or -(-len(images) // BATCH)
    size = min(BATCH, len(images))
    return time_batches(lambda: ((images[np.sort(rng.choice(len(images), size, replace=False))], None)
                                 for _ in range(n_batches)), n_batches)


def loader_rates(reader, mode: str, workers: int, repeats: int, n_batches: int | None,
                 worker_kind: str = "process") -> tuple[list[float], float]:
    """(b) One format in one access mode through :func:`loading.make_loader` (``workers`` of
    ``worker_kind``), as training sees it
    from its second epoch on: one loader whose (persistent) workers a first, short epoch starts,
    then ``repeats`` epochs timed, each in a new order. Returns their rates (whole epochs unless
    ``n_batches`` is given) and the seconds the fresh loader took to give its first batch
    (worker start-up included). ``resident`` is timed after its one-off load."""
    loader = loading.make_loader(reader, batch_size=BATCH, mode=mode, workers=workers if mode != "resident" else 0,
                                 worker_kind=worker_kind, seed=0, normalize=False)
    started = time.perf_counter()
    next(iter(loader.raw_batches()))
    first_batch_s = time.perf_counter() - started
    rates = []
    for epoch in range(1, repeats + 1):
        loader.set_epoch(epoch)
        rates.append(time_batches(loader.raw_batches, n_batches))
    # No release(): the reader keeps its memory maps, as it does from one training epoch to the next.
    return rates, first_batch_s


def slice_rate(reader, n_batches: int | None, seed: int) -> float:
    """A plain slice of the same array: contiguous reads of as many images as a block-mode window
    holds, at random block-aligned starts, no shuffle: the read that block mode builds on."""
    span = loading.block_window(reader.block_size, BATCH) * reader.block_size
    starts = np.random.default_rng(seed).permutation(np.arange(0, max(1, len(reader) - span + 1), span))
    reads = -(-n_batches * BATCH // span) if n_batches else None
    return time_batches(lambda: ((reader.read_range(int(start), min(int(start) + span, len(reader))), None)
                                 for start in starts), reads)


def warm(reader) -> None:
    """Read the whole set once in order: the page cache, and a library's chunk cache when it is
    sized to hold the set, start warm, as they are from the second training epoch on."""
    for start in range(0, len(reader), 4096):
        reader.read_range(start, min(start + 4096, len(reader)))


def imagefolder_rate(root: Path, resize: bool, image_size: int, workers: int, n_batches: int | None,
                     seed: int) -> float:
    """(c) The peer: torchvision ImageFolder + ToTensor + DataLoader over the same images, as its
    users run it (workers started afresh for the epoch)."""
    return time_batches(lambda: peer.imagefolder_loader(root, image_size, resize, BATCH, workers, seed), n_batches)


def single_core_decode_rate(reader, n: int = 2000) -> float:
    """Images/s one core decodes from the files format (reading included), PIL as the reader uses."""
    indices = np.random.default_rng(0).choice(len(reader), min(n, len(reader)), replace=False)
    start = time.perf_counter()
    for i in indices:
        reader.read([i])
    return len(indices) / (time.perf_counter() - start)


def workers_needed(rates_by_workers: dict[int, float], demand: float, cores: int) -> dict:
    """Workers at which a loader reaches ``demand``: measured up to ``cores``, else extrapolated
    from the per-worker rate at the most workers measured."""
    for workers in sorted(rates_by_workers):
        if rates_by_workers[workers] >= demand:
            return {"workers": workers, "extrapolated": False}
    most = max(rates_by_workers)
    per_worker = rates_by_workers[most] / max(most, 1)
    return {"workers": math.ceil(demand / per_worker), "extrapolated": True, "per_worker_rate": per_worker}
