"""Ring workers (``worker_kind="ring"``): worker processes that write each batch, images and
labels, into a slot of one shared-memory ring made once per loader; only slot numbers cross
between the processes.

A torch DataLoader worker hands every batch over in a shared-memory segment of its own: made,
faulted in on both sides, its descriptor passed over a socket, unmapped (issue 22: npy 873k
img/s with 0 workers, 114k with 2 processes). A ring worker gathers a batch straight into a free
slot (the dataset's batch buffer is the slot, :meth:`~.datasets.ReaderDataset.use_batch_buffers`;
a reader that makes its own arrays is copied in) and sends ``(slot, rows)``; the main process
hands out a view of the slot and gives the slot back to its worker once nothing references the
view (its reference count, as :class:`~.buffers.BatchBuffers` does). A consumer may keep
:data:`KEPT` batches alive at once; a batch handed out beyond that is a copy, so a consumer that
keeps every batch still gets its bytes and never starves the workers of slots.

Each worker owns ``prefetch_factor + KEPT`` slots and works its items in order, so the item the
main process waits for always has a slot to go on: its worker's other slots hold only batches of
that item (consumed in order) or batches the consumer keeps (at most :data:`KEPT`).

Why not torch's DataLoader with a dataset that writes into the ring: its worker hands over whole
items (a block-mode window of 8 or more batches, all made before any is sent), and which slots
are free is known only to the main process. Why pipes, one pair per worker, not shared queues: a
worker killed while it holds a queue's lock would stop the others; a dead worker's pipe and its
process sentinel wake the main process at once, which names it. The ring is torch shared memory
(file-descriptor sharing: unlinked from /dev/shm as soon as it is made), released with the last
process that maps it.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sys
import weakref
from collections import deque
from collections.abc import Iterator
from multiprocessing import connection

import numpy as np
import torch
from torch._utils import ExceptionWrapper
from torch.utils.data._utils.pin_memory import pin_memory

from .reads import reopen_reader
from .threads import Fetch, dataloader_items
from .worker_info import mark_thread_worker

#: Batches from the ring a consumer may keep alive at once; those handed out beyond are copies.
KEPT = 2
#: Seconds between a waiting worker's checks that the main process still lives.
POLL_S = 1.0
MIB = 2 ** 20


def ring_capacity(batch_size: int, image_shape: tuple[int, ...], slot_mib: float | None) -> int:
    """Images per ring slot: one batch. ValueError with the sizes when ``slot_mib`` (the slot's
    size in MiB, None: one batch's) is smaller than a batch with its labels."""
    batch_bytes = batch_size * (int(np.prod(image_shape)) + np.dtype(np.int64).itemsize)
    if slot_mib is not None and batch_bytes > slot_mib * MIB:
        shape = "x".join(map(str, image_shape))
        raise ValueError(f"make_loader: a batch of {batch_size} images of {shape} with their labels "
                         f"({batch_bytes / MIB:.2f} MiB) is larger than a ring slot of ring_slot_mib={slot_mib} "
                         f"({slot_mib:.2f} MiB); give ring_slot_mib >= {batch_bytes / MIB:.2f} or a "
                         f"smaller batch_size")
    return batch_size


class Ring:
    """The shared memory: ``slots`` slots of ``capacity`` images and as many int64 labels."""

    def __init__(self, slots: int, capacity: int, image_shape: tuple[int, ...]):
        self.images = torch.empty((slots, capacity, *image_shape), dtype=torch.uint8).share_memory_()
        self.labels = torch.empty((slots, capacity), dtype=torch.int64).share_memory_()

    def views(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each slot's images and labels as arrays of their own: a view cut from one counts in
        that array's reference count (NumPy bases a view of a view on the first array)."""
        return ([self.images[k].numpy() for k in range(len(self.images))],
                [self.labels[k].numpy() for k in range(len(self.labels))])


# ---- in the worker process -------------------------------------------------------------------

class Inbox:
    """A worker's messages from the main process: items to read, slots given back, stop."""

    def __init__(self, conn, main_pid: int, own_slots: list[int]):
        self.conn, self.main_pid = conn, main_pid
        self.tasks: deque = deque()
        self.free: deque[int] = deque(own_slots)

    def receive(self) -> None:
        while not self.conn.poll(POLL_S):
            try:
                os.kill(self.main_pid, 0)
            except ProcessLookupError:  # the main process is gone: nothing to read for
                raise SystemExit(0) from None
        message = self.conn.recv()
        if message[0] == "free":
            self.free.append(message[1])
        elif message[0] == "task":
            self.tasks.append(message[1:])
        else:
            raise SystemExit(0)


class SlotWriter:
    """The worker's side of the ring: gives the dataset a free slot's rows to gather a batch into
    (``take``, as :class:`~.buffers.BatchBuffers` does) and puts each batch made into a slot,
    in place when it was gathered there."""

    def __init__(self, ring: Ring, inbox: Inbox):
        self.images, self.labels = ring.views()
        self.inbox = inbox
        self.taken: list[int] = []  # slots given to the dataset for batches not yet sent

    def acquire(self) -> int:
        """A free slot: the one given back last, whose pages are likeliest still in the caches and
        the TLB (gathering 512 images of 64 px into one slot again and again: 460-510k img/s; into
        4 in turn: 300-370k)."""
        while not self.inbox.free:
            self.inbox.receive()
        return self.inbox.free.pop()

    def take(self, n: int) -> np.ndarray:
        k = self.acquire()
        self.taken.append(k)
        return self.images[k][:n]

    def put(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
        """The slot now holding the batch, and its rows."""
        n = len(images)
        k = next((k for k in self.taken if images.data_ptr() == self.images[k].ctypes.data), None)
        if k is None:
            k = self.acquire()
            self.images[k][:n] = images.numpy()
        else:
            self.taken.remove(k)
        self.labels[k][:n] = labels.numpy()
        return k, n

    def end_item(self) -> None:
        """Slots taken but not sent (an item that failed) are free again."""
        self.inbox.free.extend(self.taken)
        self.taken.clear()


def run_worker(worker_id: int, num_workers: int, fetch: Fetch, ring: Ring, own_slots: list[int], inbox_conn,
               outbox, main_pid: int) -> None:
    """A ring worker's life: read each item it is sent into slots, send their numbers, until told to stop."""
    torch.set_num_threads(1)
    mark_thread_worker()
    reopen_reader(fetch.dataset.reader, num_workers)
    inbox = Inbox(inbox_conn, main_pid, own_slots)
    slots = SlotWriter(ring, inbox)
    fetch.dataset.use_batch_buffers(slots)
    try:
        while True:
            while not inbox.tasks:
                inbox.receive()
            generation, number, item = inbox.tasks.popleft()
            try:
                result = fetch(item)
                for images, labels in ([result] if fetch.batched else result):
                    outbox.send(("batch", generation, number, *slots.put(images, labels)))
                outbox.send(("end", generation, number))
            except Exception:  # noqa: BLE001 - raised in the main process, with this traceback
                outbox.send(("error", generation, number, ExceptionWrapper(where=f"in ring worker {worker_id}")))
            finally:
                slots.end_item()
    except (SystemExit, EOFError, BrokenPipeError, KeyboardInterrupt):
        pass


# ---- in the main process ---------------------------------------------------------------------

class WorkerDied(RuntimeError):
    """A ring worker process ended while the loader needed it."""


class Crew:
    """The ring and the worker processes writing into it, each with its pipes in and out."""

    def __init__(self, fetch: Fetch, workers: int, per_worker: int, capacity: int, image_shape, context: str | None,
                 name: str):
        self.name, self.per_worker = name, per_worker
        self.ring = Ring(workers * per_worker, capacity, image_shape)
        self.images, self.labels = self.ring.views()
        ctx = multiprocessing.get_context(context)
        self.processes, self.inboxes, self.outboxes = [], [], []
        for w in range(workers):
            inbox_read, inbox_write = ctx.Pipe(duplex=False)
            outbox_read, outbox_write = ctx.Pipe(duplex=False)
            own = list(range(w * per_worker, (w + 1) * per_worker))
            process = ctx.Process(target=run_worker, name=f"ring-worker-{w}", daemon=True,
                                  args=(w, workers, fetch, self.ring, own, inbox_read, outbox_write, os.getpid()))
            process.start()
            inbox_read.close()
            outbox_write.close()
            self.processes.append(process)
            self.inboxes.append(inbox_write)
            self.outboxes.append(outbox_read)

    def owner(self, slot: int) -> int:
        return slot // self.per_worker

    def send(self, worker: int, message: tuple) -> None:
        try:
            self.inboxes[worker].send(message)
        except OSError:  # its pipe broke: it is gone
            raise self.died(worker) from None

    def free(self, slot: int) -> None:
        self.send(self.owner(slot), ("free", slot))

    def died(self, worker: int) -> WorkerDied:
        process = self.processes[worker]
        process.join(timeout=POLL_S)
        code = process.exitcode
        how = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 < -code < signal.NSIG
               else f"exit code {code}")
        self.stop()
        return WorkerDied(f"ring worker {worker} (pid {process.pid}) reading {self.name} exited unexpectedly "
                          f"({how}); its batches are lost, the loader's workers are stopped and the ring "
                          "released (the next iteration starts new ones)")

    @property
    def stopped(self) -> bool:
        return self.ring is None

    def messages(self) -> Iterator[tuple]:
        """The messages the workers have sent, waiting for one; WorkerDied naming a worker that has ended."""
        sentinels = {p.sentinel: w for w, p in enumerate(self.processes)}
        ready = connection.wait([*self.outboxes, *sentinels])
        for w, outbox in enumerate(self.outboxes):
            if outbox in ready:
                try:
                    while outbox.poll():
                        yield outbox.recv()
                except (EOFError, OSError):
                    raise self.died(w) from None
        for sentinel in ready:
            if sentinel in sentinels:
                raise self.died(sentinels[sentinel])

    def stop(self) -> None:
        for inbox in self.inboxes:
            try:
                inbox.send(("stop",))
            except OSError:
                pass
        for process in self.processes:
            process.join(timeout=POLL_S)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.inboxes + self.outboxes:
            conn.close()
        self.processes.clear()
        self.ring = self.images = self.labels = None


class RingWorkers:
    """An iterable over a dataset's batches in the sampler's order (read afresh at every iteration,
    its epoch set by the loader), read by ``workers`` ring worker processes, started at the first
    iteration and kept for the loader's life (as persistent DataLoader workers), ``workers *
    prefetch_factor`` items in flight. Items are the DataLoader's (:class:`~.threads.Fetch`); a
    block-mode window's batches come one by one as they are made. A worker's exception is raised
    here; a worker that dies raises :class:`WorkerDied` naming it, and the ring is released."""

    def __init__(self, dataset, batching: dict, sampler, workers: int, prefetch_factor: int, capacity: int,
                 context: str | None, pin_memory: bool):
        self.fetch = Fetch(dataset, batching, pin=False)  # pinned here, from the slot, when asked
        self.items = dataloader_items(sampler, batching)
        self.workers, self.prefetch_factor, self.capacity = workers, prefetch_factor, capacity
        self.context, self.pin = context, pin_memory
        self.crew: Crew | None = None
        self.generation = 0
        self.kept: list[int] = []  # slots handed out and maybe still referenced
        self.finalizer = None

    def __len__(self) -> int:
        return len(self.items)

    def started(self) -> Crew:
        if self.crew is None or self.crew.stopped:
            if self.finalizer is not None:
                self.finalizer.detach()
            self.crew = Crew(self.fetch, self.workers, self.prefetch_factor + KEPT, self.capacity,
                             self.fetch.dataset.reader.image_shape, self.context, str(self.fetch.dataset.reader))
            self.free_refs = sys.getrefcount(self.crew.images[0]), sys.getrefcount(self.crew.labels[0])
            self.kept = []
            self.finalizer = weakref.finalize(self, self.crew.stop)
        return self.crew

    def give_back_unreferenced(self, crew: Crew) -> None:
        for k in list(self.kept):
            if (sys.getrefcount(crew.images[k]), sys.getrefcount(crew.labels[k])) == self.free_refs:
                self.kept.remove(k)
                crew.free(k)

    def hand_out(self, crew: Crew, k: int, n: int):
        images, labels = torch.from_numpy(crew.images[k][:n]), torch.from_numpy(crew.labels[k][:n])
        if self.pin:
            images, labels = pin_memory(images), pin_memory(labels)
        elif len(self.kept) >= KEPT:
            images, labels = images.clone(), labels.clone()
        else:
            self.kept.append(k)
            return images, labels
        crew.free(k)
        return images, labels

    def __iter__(self) -> Iterator:
        """The DataLoader's items: batches, or for block mode each window's batches as an iterator,
        each batch handed out as it arrives."""
        crew = self.started()
        self.generation += 1
        epoch = RingEpoch(self, crew, self.generation)
        try:
            for _ in range(self.workers * self.prefetch_factor):
                epoch.submit()
            for number in itertools.count():
                if number not in epoch.received:
                    return
                if self.fetch.batched:
                    yield from epoch.batches(number)
                else:
                    yield epoch.batches(number)
        finally:
            if not crew.stopped:
                epoch.give_back_received()


class RingEpoch:
    """One iteration over a :class:`RingWorkers`: its items sent to the workers in turn, and the
    slots received for each, in order."""

    def __init__(self, workers: RingWorkers, crew: Crew, generation: int):
        self.workers, self.crew, self.generation = workers, crew, generation
        self.items = enumerate(iter(workers.items))
        self.received: dict[int, deque] = {}  # item number -> (slot, rows) received, not handed out
        self.ended: set[int] = set()

    def submit(self) -> None:
        for number, item in itertools.islice(self.items, 1):
            self.received[number] = deque()
            self.crew.send(number % self.workers.workers, ("task", self.generation, number, item))

    def batches(self, number: int) -> Iterator:
        """Item ``number``'s batches as they arrive; then the next item is sent."""
        received = self.received[number]
        while received or number not in self.ended:
            self.workers.give_back_unreferenced(self.crew)
            if received:
                yield self.workers.hand_out(self.crew, *received.popleft())
            else:
                self.receive()
        del self.received[number]
        self.submit()

    def receive(self) -> None:
        for kind, generation, number, *rest in self.crew.messages():
            if generation != self.generation:  # from an iteration left unfinished
                if kind == "batch":
                    self.crew.free(rest[0])
            elif kind == "batch":
                self.received[number].append(tuple(rest))
            elif kind == "end":
                self.ended.add(number)
            else:
                rest[0].reraise()

    def give_back_received(self) -> None:
        """An iteration left unfinished: the slots it received are free again."""
        try:
            for slots in self.received.values():
                for k, _ in slots:
                    self.crew.free(k)
        except WorkerDied:  # the crew is stopped: the next iteration starts a new one
            pass
