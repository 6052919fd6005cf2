"""Thread workers: a DataLoader mode's dataset read by a pool of threads of this process, kept
from epoch to epoch (as persistent DataLoader workers are).

A process worker hands every batch to the main process through shared memory and a queue: for a
memory-mapped format that copy and its IPC cost more than the read (issue 22: npy 873k img/s with
0 workers, 114k with 2). A thread worker's batch is the tensor it made, handed over by reference.
That pays only where the read runs outside the GIL: NumPy's gathers and copies, TensorStore,
zlib, PIL and torchvision decoding. A reader declares whether threads may share it
(``thread_safe``); one that does not is refused, naming it.

Why not ``torchdata.nodes``: its ``ParallelMapper`` starts its threads at every iteration and
stops them at the end (a 10 ms sleep at start, joins of threads that poll their queues every
100 ms): 112 ms per epoch measured here, whatever the epoch holds, against a 40 ms epoch of npy
at 64 px (20,000 images). A persistent ``ThreadPoolExecutor`` pays nothing per epoch.

The items are the DataLoader's: a batch of indices (``batch_sampler``, or ``batch_size`` over the
sampler), or one sampler item (``batch_size=None``: block mode's windows), fetched and collated as
a DataLoader worker would (:class:`Fetch`).
"""
from __future__ import annotations

import itertools
import weakref
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from torch.utils.data import BatchSampler, Dataset
from torch.utils.data._utils.collate import default_collate, default_convert
from torch.utils.data._utils.pin_memory import pin_memory

from .worker_info import mark_thread_worker

#: How DataLoader workers run: torch's worker processes, or threads of this process.
WORKER_KINDS = ("process", "thread")


class Fetch:
    """One DataLoader item read and collated, as a DataLoader worker does it, pinned when asked."""

    def __init__(self, dataset: Dataset, batching: dict, pin: bool):
        self.dataset, self.pin = dataset, pin
        self.batched = batching.get("batch_size", 1) is not None
        self.collate = batching.get("collate_fn") or (default_collate if self.batched else default_convert)

    def __call__(self, item):
        if not self.batched:
            data = self.collate(self.dataset[item])
        else:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = self.collate(getitems(item) if getitems else [self.dataset[i] for i in item])
        return pin_memory(data) if self.pin else data


def dataloader_items(sampler, batching: dict):
    """The DataLoader's items, in order: batches of indices, or the sampler's own items."""
    if "batch_sampler" in batching:
        return batching["batch_sampler"]
    if batching.get("batch_size", 1) is None:
        return sampler
    return BatchSampler(sampler, batching.get("batch_size", 1), batching.get("drop_last", False))


class ThreadWorkers:
    """An iterable over a dataset's collated items in the sampler's order (read afresh at every
    iteration, its epoch set by the loader), read by ``workers`` threads with ``workers *
    prefetch_factor`` items being read or waiting, as a DataLoader's workers do. An iteration
    left unfinished cancels the items not yet begun; a worker's exception is raised here."""

    def __init__(self, dataset: Dataset, batching: dict, sampler, workers: int, prefetch_factor: int,
                 pin_memory: bool):
        self.fetch = Fetch(dataset, batching, pin_memory)
        self.items = dataloader_items(sampler, batching)
        self.depth = workers * prefetch_factor
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="loader-worker", initializer=mark_thread_worker)
        weakref.finalize(self, self.pool.shutdown, wait=False, cancel_futures=True)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator:
        items = iter(self.items)
        pending = deque(self.pool.submit(self.fetch, item) for item in itertools.islice(items, self.depth))
        try:
            while pending:
                done = pending.popleft()
                for item in itertools.islice(items, 1):
                    pending.append(self.pool.submit(self.fetch, item))
                yield done.result()
        finally:
            for future in pending:
                future.cancel()
