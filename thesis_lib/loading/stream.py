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
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .orders import rebatch

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


def buffer_plan(count: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A shuffle buffer of ``size`` over ``count`` items arriving in order: the buffer fills with
    the first ``size``; then item ``size + j`` takes the slot of one drawn at random, which leaves
    as the ``j``-th sent; at the end the rest leave in random order. Returns the items in the order
    they leave and the buffer slot each item occupied (what the images are moved by)."""
    size = min(size, count)
    slots = np.empty(count, np.int64)
    slots[:size] = np.arange(size)
    slots[size:] = (rng.random(count - size) * size).astype(np.int64) if size else 0
    held, sent = list(range(size)), []
    for item, k in zip(range(size, count), slots[size:].tolist()):
        sent.append(held[k])
        held[k] = item
    sent.extend(held[k] for k in rng.permutation(size))
    return np.asarray(sent, np.int64), slots


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

    def worker_plan(self, epoch: int, worker: int):
        """Worker ``worker``'s pieces, the index of each image it streams, and its buffer plan
        (:func:`buffer_plan`) over them."""
        pieces = self.worker_pieces(epoch, worker)
        indices = np.concatenate([np.arange(a, b) for a, b in pieces]) if pieces else np.empty(0, np.int64)
        return pieces, indices, buffer_plan(len(indices), self.worker_buffer(), self.worker_rng(epoch, worker))

    def worker_order(self, epoch: int, worker: int) -> np.ndarray:
        """Worker ``worker``'s indices in the order it sends them."""
        _, indices, (sent, _) = self.worker_plan(epoch, worker)
        return indices[sent]


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
        pieces, indices, (sent, slots) = self.order.worker_plan(self.order.epoch, info.id if info is not None else 0)
        return rebatch(self._sent_pieces(pieces, indices, sent, slots), self.batch_size, drop_last=False)

    def _sent_pieces(self, pieces, indices, sent, slots):
        """``(images, labels)`` of what leaves the buffer while each piece arrives, then of the rest.

        The buffer is one array of ``size`` images. While a piece arrives, the images that leave
        are gathered first (from the buffer, or from the piece for one that arrives and leaves
        within it), then the piece's images that stay are put in their slots: all at once, as
        the slots of the images that stay are distinct."""
        count, size = len(indices), min(self.order.worker_buffer(), len(indices))
        left_at = np.empty(count, np.int64)  # the step at which each item leaves (see buffer_plan)
        left_at[sent] = np.arange(count)
        buffer = None
        first = 0
        for start, stop in pieces:
            images = self.reader.read_range(start, stop)
            if buffer is None:
                buffer = np.empty((size, *images.shape[1:]), images.dtype)
            last = first + len(images)
            steps = sent[max(first - size, 0):max(last - size, 0)]  # what leaves while this piece arrives
            if len(steps):
                from_piece = steps >= first
                out = np.empty((len(steps), *images.shape[1:]), images.dtype)
                out[~from_piece] = buffer[slots[steps[~from_piece]]]
                out[from_piece] = images[steps[from_piece] - first]
                yield torch.from_numpy(out), torch.from_numpy(self.labels[indices[steps]])
            staying = np.flatnonzero(left_at[first:last] >= last - size)
            buffer[slots[first + staying]] = images[staying]
            first = last
        rest = sent[max(count - size, 0):]
        if len(rest):
            yield torch.from_numpy(buffer[slots[rest]]), torch.from_numpy(self.labels[indices[rest]])
