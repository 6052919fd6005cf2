"""The ``stream`` access mode's order and reads: shards in a new order each epoch, read one after
another, and a shuffle buffer between the reads and the batches (WebDataset's ``shuffle(N)``).

A *shard* is the reader's own (``reader.shard_ranges``: a WebDataset tar), else a block of
``reader.block_size`` images (a chunk). Each epoch the shards are permuted (NumPy, seeded by
``(seed, epoch)``); with DataLoader workers, worker ``w`` of ``W`` streams every ``W``-th shard of
that order through a buffer of ``buffer // W`` images, as WebDataset's workers each shuffle their
own shards. The buffer fills with the first images; then each image read replaces one drawn at
random from the buffer, which is sent on; at the end of the shards the buffer empties in random
order. The order is a pure function of ``(seed, epoch, rank, worker)``, so :func:`epoch_order` gives
what a loader delivers without reading an image (the shuffle-quality measure needs it).

The epoch reaches persistent workers through a shared integer (an ``IterableDataset`` in a
worker never sees the main process's objects again after it starts).
"""
from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .reads import read_range

RANDOM_DRAWS = 4096  # uniform numbers drawn at once: a draw per image would cost more than the copy


def shard_ranges(reader) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the reader's shards, or of its blocks when it has no shards."""
    ranges = getattr(reader, "shard_ranges", None)
    if ranges is not None:
        return [(int(a), int(b)) for a, b in ranges]
    size, n = max(1, int(reader.block_size)), len(reader)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def check_buffer(buffer: int, batch_size: int, n: int) -> int:
    """``buffer`` when it holds at least one batch and at most the dataset (a set smaller than a
    batch: exactly the set); ValueError with the range otherwise."""
    low = min(batch_size, n)
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or not low <= buffer <= n:
        raise ValueError(f"make_loader(mode='stream'): buffer={buffer!r} must be an integer in {low}..{n} "
                         f"(at least one batch of {batch_size}, at most the {n} images of the dataset)")
    return int(buffer)


def buffer_shuffle(items: Iterator[int], size: int, rng: np.random.Generator) -> Iterator[int]:
    """``items`` through a shuffle buffer of ``size``: full, each new item replaces a random one,
    which is yielded; then the rest in random order."""
    held: list[int] = []
    draws, used = rng.random(RANDOM_DRAWS), 0
    for item in items:
        if len(held) < size:
            held.append(item)
            continue
        if used == RANDOM_DRAWS:
            draws, used = rng.random(RANDOM_DRAWS), 0
        k = int(draws[used] * size)
        used += 1
        held[k], item = item, held[k]
        yield item
    yield from (held[k] for k in rng.permutation(len(held)))


class StreamOrder:
    """The stream's order: the shard order of an epoch, this rank's share of it, each worker's
    shards and buffer.

    Distributed, rank ``r`` takes the ``r``-th contiguous slice of the epoch's shard order, padded
    by repeating from its start (or cut, with ``drop_last``) as DistributedSampler pads: every
    rank streams ``num_samples`` images, a shard at a slice's edge split between two ranks.
    """

    def __init__(self, ranges: list[tuple[int, int]], buffer: int, *, seed: int, shuffle: bool, workers: int,
                 num_samples: int, rank: int = 0, world_size: int = 1):
        self.ranges, self.buffer, self.seed, self.shuffle = ranges, buffer, seed, shuffle
        self.streams = max(1, workers)
        self.num_samples, self.rank, self.world_size = num_samples, rank, world_size
        self.shared_epoch = multiprocessing.get_context("spawn").Value("q", 0, lock=False)

    @property
    def epoch(self) -> int:
        return int(self.shared_epoch.value)

    def set_epoch(self, epoch: int) -> None:
        self.shared_epoch.value = epoch

    def rank_pieces(self, epoch: int) -> list[tuple[int, int]]:
        """This rank's share of the epoch's shard order, as ``(start, stop)`` pieces of shards."""
        order = (np.random.default_rng((self.seed, epoch)).permutation(len(self.ranges)) if self.shuffle
                 else np.arange(len(self.ranges)))
        low, high = self.rank * self.num_samples, (self.rank + 1) * self.num_samples
        pieces, pos = [], 0
        for k in itertools.cycle(order.tolist()) if high else ():
            start, stop = self.ranges[k]
            a, b = max(start, start + low - pos), min(stop, start + high - pos)
            if a < b:
                pieces.append((a, b))
            pos += stop - start
            if pos >= high:
                break
        return pieces

    def worker_pieces(self, epoch: int, worker: int) -> list[tuple[int, int]]:
        return self.rank_pieces(epoch)[worker::self.streams]

    def worker_rng(self, epoch: int, worker: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, epoch, self.rank, worker))

    def worker_buffer(self) -> int:
        return max(1, self.buffer // self.streams) if self.shuffle else 1

    def worker_order(self, epoch: int, worker: int) -> np.ndarray:
        """Worker ``worker``'s indices in the order it sends them."""
        pieces = self.worker_pieces(epoch, worker)
        indices = np.concatenate([np.arange(a, b) for a, b in pieces]) if pieces else np.empty(0, np.int64)
        positions = buffer_shuffle(iter(range(len(indices))), self.worker_buffer(), self.worker_rng(epoch, worker))
        return indices[np.fromiter(positions, np.int64, count=len(indices))]


def epoch_order(order: StreamOrder, epoch: int, batch_size: int) -> np.ndarray:
    """The indices a stream loader delivers in ``epoch``: the workers' batches taken in turn, as a
    DataLoader takes them, a worker that has run out skipped."""
    pieces = [[o[k:k + batch_size] for k in range(0, len(o), batch_size)]
              for o in (order.worker_order(epoch, w) for w in range(order.streams))]
    delivered = [worker[turn] for turn in range(max(map(len, pieces), default=0)) for worker in pieces
                 if turn < len(worker)]
    return np.concatenate(delivered) if delivered else np.empty(0, np.int64)


class StreamDataset(IterableDataset):
    """One worker's (or the main process's) stream: its shards read in order, one range read
    each, through the buffer; yields batches of ``batch_size`` (its last one short)."""

    def __init__(self, reader, order: StreamOrder, batch_size: int):
        self.reader, self.order, self.batch_size = reader, order, batch_size
        self.labels = np.array(reader.labels, dtype=np.int64)

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        epoch = self.order.epoch
        held: dict[int, tuple[int, torch.Tensor]] = {}  # by position in the stream: padding repeats an index

        def arriving() -> Iterator[int]:
            pos = 0
            for start, stop in self.order.worker_pieces(epoch, worker):
                images = read_range(self.reader, start, stop)
                for i in range(start, stop):
                    held[pos] = i, images[i - start]
                    yield pos
                    pos += 1

        batch: list[int] = []
        for pos in buffer_shuffle(arriving(), self.order.worker_buffer(), self.order.worker_rng(epoch, worker)):
            batch.append(pos)
            if len(batch) == self.batch_size:
                yield self._batch(batch, held)
                batch = []
        if batch:
            yield self._batch(batch, held)

    def _batch(self, positions: list[int], held: dict):
        indices, rows = zip(*(held.pop(pos) for pos in positions))
        indices = list(indices)
        # On the CPU through NumPy, one thread: see reads.cat for what torch's copy cost here.
        images = torch.from_numpy(np.stack([r.numpy() for r in rows])) if rows[0].device.type == "cpu" \
            else torch.stack(rows)
        return images, torch.from_numpy(self.labels[indices])
