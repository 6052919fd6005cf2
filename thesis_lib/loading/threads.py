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
a DataLoader worker would (:class:`Fetch`). A window's batches are handed over one by one as its
thread makes them (:class:`Stream`), not as a list made whole before the first is taken.
"""
from __future__ import annotations

import itertools
import queue
import weakref
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from torch.utils.data import BatchSampler, Dataset
from torch.utils.data._utils.collate import default_collate, default_convert
from torch.utils.data._utils.pin_memory import pin_memory

from .worker_info import mark_thread_worker

#: How DataLoader workers run: torch's worker processes, threads of this process, or worker
#: processes writing into a shared-memory ring (:mod:`.ring`).
WORKER_KINDS = ("process", "thread", "ring")


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


class Stream:
    """One item's batches, made by a worker thread and taken one by one in the main thread, at
    most ``ahead`` made and not yet taken. Its thread stops at the next batch once ``cancel`` is
    called (an iteration left unfinished); its exception is raised where the batches are taken."""

    END = object()

    def __init__(self, ahead: int):
        self.queue: queue.Queue = queue.Queue(ahead)
        self.cancelled = False

    def fill(self, fetch: "Fetch", item) -> None:
        if self.cancelled:
            return
        try:
            for batch in fetch(item):
                if not self.offer(batch):
                    return
            self.offer(self.END)
        except BaseException as error:  # noqa: BLE001 - raised where the batches are taken
            self.offer(error)

    def offer(self, value) -> bool:
        while not self.cancelled:
            try:
                self.queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def cancel(self) -> None:
        self.cancelled = True

    def __iter__(self) -> Iterator:
        while True:
            try:
                value = self.queue.get(timeout=0.1)
            except queue.Empty:
                if self.cancelled:  # its iteration was left: the rest of the window never comes
                    raise RuntimeError("a window's batches were taken after the loader's iteration that read "
                                       "them was left unfinished") from None
                continue
            if value is self.END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value


class ThreadWorkers:
    """An iterable over a dataset's collated items in the sampler's order (read afresh at every
    iteration, its epoch set by the loader), read by ``workers`` threads with ``workers *
    prefetch_factor`` items being read or waiting, as a DataLoader's workers do; a block-mode
    window's batches each handed over as made (``per_batch``; False: the window's list, made
    whole, as before issue 22's second part, kept to measure the two side by side). An iteration
    left unfinished cancels the items not yet begun; a worker's exception is raised here."""

    def __init__(self, dataset: Dataset, batching: dict, sampler, workers: int, prefetch_factor: int,
                 pin_memory: bool, per_batch: bool = True):
        self.fetch = Fetch(dataset, batching, pin_memory)
        self.items = dataloader_items(sampler, batching)
        self.depth = workers * prefetch_factor
        self.ahead, self.per_batch = prefetch_factor, per_batch
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="loader-worker", initializer=mark_thread_worker)
        weakref.finalize(self, self.pool.shutdown, wait=False, cancel_futures=True)

    def __len__(self) -> int:
        return len(self.items)

    def submit(self, item):
        """A future of the item (a batch, or a window's list of batches), or the window's :class:`Stream`."""
        if self.fetch.batched:
            return self.pool.submit(self.fetch, item)
        if not self.per_batch:
            return self.pool.submit(lambda: list(self.fetch(item)))
        stream = Stream(self.ahead)
        self.pool.submit(stream.fill, self.fetch, item)
        return stream

    def __iter__(self) -> Iterator:
        items = iter(self.items)
        pending = deque(self.submit(item) for item in itertools.islice(items, self.depth))
        current = None
        try:
            while pending:
                current = pending.popleft()
                for item in itertools.islice(items, 1):
                    pending.append(self.submit(item))
                yield current if isinstance(current, Stream) else current.result()
        finally:
            for future in [current, *pending]:
                if future is not None:
                    future.cancel()
