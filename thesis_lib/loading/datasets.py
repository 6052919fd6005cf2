"""The torch datasets behind the DataLoader modes: one image per item (``sample``), one batch per
item (``batch``), one block-mode window per item (``block``).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .buffers import BatchBuffers
from .orders import batch_cuts
from .reads import cat, contiguous_runs, gather_rows, read_indices, read_range
from .shared import Batch
from .worker_info import in_data_loader_worker, in_worker


class ReaderDataset(Dataset):
    """What every dataset here holds: the reader (which a DataLoader worker reopens,
    :func:`~.reads.reopen_in_worker`), all its labels as int64, and each thread's batch buffers
    (:class:`~.buffers.BatchBuffers`). Its items are for the subclass to say."""

    def __init__(self, reader):
        self.reader = reader
        self.labels = np.array(reader.labels, dtype=np.int64)
        self.local = threading.local()  # each thread's buffers

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "local"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.local = threading.local()

    def use_batch_buffers(self, buffers) -> None:
        """Gather this thread's batches into ``buffers`` (a ``take(n)`` of rows), e.g. a ring's slots."""
        self.local.batch_buffers = buffers

    def take_buffer(self, n: int) -> np.ndarray:
        """``n`` rows of one of this thread's reused batch buffers."""
        if not hasattr(self.local, "batch_buffers"):
            self.local.batch_buffers = BatchBuffers(self.reader.image_shape)
        return self.local.batch_buffers.take(n)

    def gather(self, images: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """``images[rows]`` on the host, into a reused buffer."""
        return torch.from_numpy(np.take(images, rows, axis=0, out=self.take_buffer(len(rows))))

    def read_batch(self, indices: np.ndarray) -> torch.Tensor:
        """The images at ``indices``, in their order: a memory-mapped reader gathers them into a
        reused buffer; the others read as they do."""
        if getattr(self.reader, "gathers_any_order", False) and not self.reader.on_device:
            return torch.from_numpy(self.reader.read_into(indices, self.take_buffer(len(indices))))
        return read_indices(self.reader, indices)


class SampleDataset(ReaderDataset):
    """One image per ``__getitem__``: the habit of most PyTorch tutorials."""

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return read_indices(self.reader, np.array([index]))[0], int(self.labels[index])


class BatchDataset(SampleDataset):
    """A whole batch per ``__getitems__``: one read of the sorted indices (unsorted when the
    reader gathers from a memory map, where order costs nothing)."""

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        indices = np.asarray(indices, dtype=np.int64)
        if getattr(self.reader, "gathers_any_order", False):  # a memory map: sorting only adds a copy
            return self.read_batch(indices), torch.from_numpy(self.labels[indices])
        order = np.argsort(indices, kind="stable")
        images_sorted = read_indices(self.reader, indices[order])
        back = np.empty_like(order)
        back[order] = np.arange(len(order))  # the inverse permutation: back to the sampler's order
        if images_sorted.device.type == "cpu":
            return self.gather(images_sorted.numpy(), back), torch.from_numpy(self.labels[indices])
        return gather_rows(images_sorted, back), torch.from_numpy(self.labels[indices])


class WindowDataset(ReaderDataset):
    """A whole block-mode window per item, given as ``(first, indices, following)``: the position of
    its first sample in the epoch's order, its indices in visiting order, and the next window's
    indices (None for the last). Returns the window's batches (a straddling batch's share at either
    edge) as a list of ``(images, labels)``.

    The window's blocks are read as contiguous runs into a buffer that the dataset keeps (each
    worker, process or thread, its own), and every batch is a gather from it: one copy per image beyond
    the read, into the batch itself. In the main process (no workers) a reader that reads in
    the background (TensorStore, ``reads_in_background``) reads the next window into a second
    buffer meanwhile, overlapping its threads with the gathers. A memory-mapped reader
    (``gathers_any_order``) gathers each batch straight from its map, as batch mode does; a device
    reader reads the window's blocks to the device and gathers the batches there.
    """

    def __init__(self, reader, batch_size: int, pin: bool = False):
        super().__init__(reader)
        self.batch_size, self.pin = batch_size, pin
        self.ahead = None  # (indices, rows) of the window being read ahead into buffers[1]

    def __getstate__(self):
        return super().__getstate__() | {"ahead": None}

    @property
    def buffers(self) -> list[np.ndarray | None]:
        """This thread's two window buffers (the second for a window read ahead)."""
        if not hasattr(self.local, "buffers"):
            self.local.buffers = [None, None]
        return self.local.buffers

    def window_buffer(self, k: int, n: int) -> np.ndarray:
        if self.buffers[k] is None or len(self.buffers[k]) < n:
            self.buffers[k] = np.empty((n, *self.reader.image_shape), np.uint8)
        return self.buffers[k]

    def start_window(self, unique: np.ndarray, k: int):
        return self.reader.start_read_ranges_into(contiguous_runs(unique), self.window_buffer(k, len(unique)))

    def read_window(self, indices: np.ndarray, following: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The window's images in storage order (its sorted unique indices) and, for each visited
        index, its row there; from the read ahead when there is one for this window. Begins
        reading ``following`` when in the main process."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None and ahead[0] is indices:
            self.buffers.reverse()  # the window read ahead is now buffers[0]
            rows, inverse = ahead[2](), ahead[1]
        else:
            if ahead is not None:  # an abandoned epoch's: wait, as its buffer is reused below
                try:
                    ahead[2]()
                except Exception:  # noqa: BLE001 - that window is read again, and fails, if it is asked for
                    pass
            unique, inverse = np.unique(indices, return_inverse=True)
            rows = self.start_window(unique, 0)()
        # Only a reader that reads in the background gains: a read done here at once would only
        # push the current window out of the CPU caches before its batches are gathered.
        if following is not None and getattr(self.reader, "reads_in_background", False) and not in_worker():
            unique, following_inverse = np.unique(following, return_inverse=True)
            self.ahead = (following, following_inverse, self.start_window(unique, 1))
        return rows, inverse

    def __getitem__(self, item: tuple[int, np.ndarray, np.ndarray | None]) -> Iterable[Batch]:
        first, indices, following = item
        if getattr(self.reader, "gathers_any_order", False):
            def gather(a: int, b: int) -> torch.Tensor:
                return self.read_batch(indices[a:b])
        elif getattr(self.reader, "on_device", False):  # whole blocks read to the device, gathered there
            unique, rows = np.unique(indices, return_inverse=True)
            runs = [read_range(self.reader, start, stop) for start, stop in contiguous_runs(unique)]
            window = runs[0] if len(runs) == 1 else cat(runs)

            def gather(a: int, b: int) -> torch.Tensor:
                return gather_rows(window, rows[a:b])
        else:
            host_window, rows = self.read_window(indices, following)

            def gather(a: int, b: int) -> torch.Tensor:
                return self.gather(host_window, rows[a:b])
        cuts = batch_cuts(first, len(indices), self.batch_size)
        batches = ((self.pinned(gather(a, b)), torch.from_numpy(self.labels[indices[a:b]]))
                   for a, b in zip(cuts[:-1], cuts[1:]))
        # Each batch is gathered when asked for, one alive at a time as in batch mode: a window's
        # batches made at once (8 x 6 MB at 64 px) made glibc return the memory to the kernel and
        # fault it in again (npy block 560k img/s, 930k with glibc's trimming off). Thread and ring
        # workers hand them over one by one; only a DataLoader worker's window is pickled whole.
        return list(batches) if in_data_loader_worker() else batches

    def pinned(self, images: torch.Tensor) -> torch.Tensor:
        # The loader pins what a worker hands over, not batches the main process makes lazily.
        return images.pin_memory() if self.pin and not in_worker() else images


def collate_batch(batch: Batch) -> Batch:
    """``__getitems__`` already returns stacked tensors: nothing to copy."""
    return batch
