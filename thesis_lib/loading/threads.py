"""Thread workers: a DataLoader mode's dataset read by threads of this process, on
``torchdata.nodes`` (``ParallelMapper`` with ``method="thread"``, then ``PinMemory`` on CUDA).

A process worker hands every batch to the main process through shared memory and a queue: for a
memory-mapped format that copy and its IPC cost more than the read (issue 22: npy 873k img/s with
0 workers, 114k with 2). A thread worker's batch is the tensor it made, handed over by reference.
That pays only where the read runs outside the GIL: NumPy's gathers and copies, TensorStore,
zlib, PIL and torchvision decoding. A reader declares whether threads may share it
(``thread_safe``); one that does not is refused, naming it.

The items are the DataLoader's: a batch of indices (``batch_sampler``, or ``batch_size`` over the
sampler), or one sampler item (``batch_size=None``: block mode's windows), fetched and collated as
a DataLoader worker would (:class:`Fetch`).
"""
from __future__ import annotations

from collections.abc import Iterator

import torchdata.nodes as tn
from torch.utils.data import BatchSampler, Dataset
from torch.utils.data._utils.collate import default_collate, default_convert

from .worker_info import mark_thread_worker

#: How DataLoader workers run: torch's worker processes, or threads of this process.
WORKER_KINDS = ("process", "thread")


class Fetch:
    """One DataLoader item read and collated, as a DataLoader worker does it, in a thread worker."""

    def __init__(self, dataset: Dataset, batching: dict):
        self.dataset = dataset
        self.batched = batching.get("batch_size", 1) is not None
        self.collate = batching.get("collate_fn") or (default_collate if self.batched else default_convert)

    def __call__(self, item):
        mark_thread_worker()
        if not self.batched:
            return self.collate(self.dataset[item])
        getitems = getattr(self.dataset, "__getitems__", None)
        return self.collate(getitems(item) if getitems else [self.dataset[i] for i in item])


class Items:
    """The DataLoader's items in order, read afresh from the sampler at every iteration (its
    epoch is set by the loader, as a DataLoader's is)."""

    def __init__(self, sampler, batching: dict):
        if "batch_sampler" in batching:
            self.items = batching["batch_sampler"]
        elif batching.get("batch_size", 1) is None:
            self.items = sampler
        else:
            self.items = BatchSampler(sampler, batching.get("batch_size", 1), batching.get("drop_last", False))

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def thread_loader(dataset: Dataset, batching: dict, sampler, workers: int, prefetch_factor: int,
                  pin_memory: bool) -> tn.Loader:
    """An iterable over ``dataset``'s collated items in ``sampler``'s order, read by ``workers``
    threads with ``prefetch_factor`` items per thread being read or waiting (a DataLoader's
    ``prefetch_factor``), pinned on a thread of its own when ``pin_memory``."""
    # ParallelMapper holds at most 2 items per thread (being read or done); max_concurrent only
    # lowers that (to at most one per thread), so a deeper queue is a Prefetcher after it.
    node = tn.ParallelMapper(tn.IterableWrapper(Items(sampler, batching)), Fetch(dataset, batching),
                             num_workers=workers, method="thread", in_order=True,
                             max_concurrent=workers if prefetch_factor == 1 else None)
    if prefetch_factor > 2:
        node = tn.Prefetcher(node, (prefetch_factor - 2) * workers)
    if pin_memory:
        node = tn.PinMemory(node)
    return tn.Loader(node)
