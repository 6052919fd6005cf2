"""Sample orders and batch boundaries: a sampler's order cut into index batches, block mode's
windows, each rank's share, where a window's batches begin, and a stream of pieces cut back into
batches.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from .reads import cat
from .shared import Batch


class ArrayBatches(Sampler):
    """The batches of ``sampler``'s order as NumPy index arrays: the epoch's order is converted
    once, instead of torch's BatchSampler building a Python list of ints for every batch."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[np.ndarray]:
        order = np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return math.ceil(len(self.sampler) / self.batch_size)


def shard_size(n: int, world_size: int, drop_last: bool) -> int:
    """Samples per rank under DistributedSampler's rule."""
    return n // world_size if drop_last else math.ceil(n / world_size)


class BlockWindows(Sampler):
    """Block-mode order: yields each window's indices (in visiting order) for one rank.

    The blocks ``[k * block_size, (k + 1) * block_size)`` are shuffled; their concatenation is
    padded (or cut) to ``world_size`` equal shards and rank ``r`` takes the ``r``-th contiguous
    slice; that slice is cut into windows of ``window`` blocks and each window is shuffled. Both
    shuffles draw from ``numpy.random.default_rng((seed, epoch))``.
    """

    def __init__(self, n: int, *, block_size: int, window: int, shuffle: bool, seed: int, rank: int,
                 world_size: int, drop_last: bool):
        self.n, self.block_size, self.window = n, block_size, window
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size = rank, world_size
        self.num_samples = shard_size(n, world_size, drop_last)
        self._windows: tuple[int, list[np.ndarray]] | None = None  # (epoch, its windows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rank_order(self, rng: np.random.Generator) -> np.ndarray:
        """This rank's indices, blocks shuffled but not yet windows.

        Only whole blocks are shuffled; the short last block (when ``n`` is not a multiple of the
        block) stays last, so every window before it starts on a batch boundary whenever a window
        holds whole batches, and no batch has to be joined from two windows (a copy of it).
        """
        whole = self.n // self.block_size
        starts = np.arange(whole) * self.block_size
        if self.shuffle:
            starts = rng.permutation(starts)
        order = np.r_[(starts[:, None] + np.arange(self.block_size)).ravel(), np.arange(whole * self.block_size, self.n)]
        total = self.num_samples * self.world_size
        order = np.resize(order, total)  # pads by repeating from the start, like DistributedSampler
        return order[self.rank * self.num_samples:(self.rank + 1) * self.num_samples]

    def windows(self) -> list[np.ndarray]:
        """This epoch's windows: ``window`` consecutive blocks each (a shard edge may split one)."""
        if self._windows is not None and self._windows[0] == self.epoch:
            return self._windows[1]
        rng = np.random.default_rng((self.seed, self.epoch))
        order = self.rank_order(rng)
        block_starts = np.flatnonzero(np.diff(order // self.block_size)) + 1
        windows = np.split(order, block_starts[self.window - 1::self.window])
        if self.shuffle:
            windows = [rng.permutation(window) for window in windows]
        self._windows = (self.epoch, windows)
        return windows

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """``(first, indices, following)`` per window: where it starts in the epoch's order, its
        order, and the next window's (None for the last), which a reader may start on meanwhile."""
        windows = self.windows()
        firsts = np.cumsum([0] + [len(w) for w in windows[:-1]])
        return zip(firsts.tolist(), windows, [*windows[1:], None])

    def __len__(self) -> int:
        return len(self.windows())


def batch_cuts(first: int, count: int, batch_size: int) -> np.ndarray:
    """Where the epoch's batches begin inside a window of ``count`` samples whose first sample is
    the epoch's ``first``-th: ``[0, ..., count]``, so consecutive cuts bound whole batches or the
    window's share of a batch that straddles two windows."""
    inner = np.arange(-first % batch_size, count, batch_size)
    return np.unique(np.r_[0, inner, count])


def concatenate(pieces: list[Batch]) -> Batch:
    return cat([images for images, _ in pieces]), cat([labels for _, labels in pieces])


def rebatch(windows, batch_size: int, drop_last: bool) -> Iterator[Batch]:
    """Cut a stream of ``(images, labels)`` pieces into batches of ``batch_size``.

    Batches inside a piece are views; only a batch that straddles two pieces is copied.
    """
    held: list[Batch] = []
    held_count = 0
    for images, labels in windows:
        start = 0
        if held:
            start = min(batch_size - held_count, len(images))
            held.append((images[:start], labels[:start]))
            held_count += start
            if held_count < batch_size:
                continue
            yield concatenate(held)
            held, held_count = [], 0
        while start + batch_size <= len(images):
            yield images[start:start + batch_size], labels[start:start + batch_size]
            start += batch_size
        if start < len(images):
            held, held_count = [(images[start:], labels[start:])], len(images) - start
    if held and not drop_last:
        yield held[0] if len(held) == 1 else concatenate(held)
