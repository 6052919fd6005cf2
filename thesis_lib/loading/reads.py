"""Reading images out of a format reader into uint8 NHWC tensors, and the copies around that:
one read of given indices or of a range, row gathers, the runs of sorted indices, a join, the
whole set at once (``resident``), and a DataLoader worker's reopening of the reader.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import get_worker_info

from ..formats.runs import contiguous_runs  # noqa: F401 - re-exported: loading reads runs through here


def as_tensor(images) -> torch.Tensor:
    """A torch view of a reader's output (NumPy copied only when it is read-only)."""
    if isinstance(images, torch.Tensor):
        return images
    if not images.flags.writeable:
        images = images.copy()
    return torch.from_numpy(images)


def read_indices(reader, indices: np.ndarray) -> torch.Tensor:
    """Images at ``indices`` (any order) as a uint8 NHWC tensor: one reader call."""
    if reader.on_device:
        return reader.read_torch(indices)
    return as_tensor(reader.read(indices))


def gather_rows(images: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    """``images[rows]``; on the CPU through NumPy, whose row gather is several times faster than
    torch's advanced indexing of uint8 images. On CUDA the row index goes to the device from
    pinned memory without blocking: a blocking copy would wait for every queued step, once per
    batch, and make a loader that gathers on the device (``resident``, a device reader's blocks)
    synchronous whatever ``queue_steps`` says."""
    if images.device.type == "cpu":
        return torch.from_numpy(images.numpy()[rows])
    if images.device.type == "cuda":
        index = torch.empty(np.shape(rows), dtype=torch.int64, pin_memory=True)
        index.numpy()[...] = rows
        return images[index.to(images.device, non_blocking=True)]
    return images[torch.from_numpy(rows).to(images.device)]


def read_range(reader, start: int, stop: int) -> torch.Tensor:
    """Images ``start..stop-1`` as a uint8 NHWC tensor: one contiguous read."""
    if reader.on_device:
        return reader.read_torch(np.arange(start, stop))
    return as_tensor(reader.read_range(start, stop))


def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat``; on the CPU through NumPy, which copies on one thread: torch's copy runs on
    its OpenMP threads, and on a busy machine waiting for the second core cost 5-15 ms per batch
    of 512 images instead of 0.04 ms (measured on 2 shared cores)."""
    if all(t.device.type == "cpu" for t in tensors):
        return torch.from_numpy(np.concatenate([t.numpy() for t in tensors]))
    return torch.cat(tensors)


def read_resident(reader, device: torch.device, chunk_size: int) -> torch.Tensor:
    """The whole dataset as one uint8 NHWC tensor on ``device``, read in contiguous chunks."""
    n = len(reader)
    images = torch.empty((n, *reader.image_shape), dtype=torch.uint8, device=device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        images[start:stop].copy_(read_range(reader, start, stop), non_blocking=False)
    return images


def reopen_in_worker(worker_id: int) -> None:
    """A DataLoader worker's ``worker_init_fn``: :func:`reopen_reader` on its dataset's reader."""
    info = get_worker_info()
    reopen_reader(info.dataset.reader, info.num_workers)


def threads_per_worker(cores: int, workers: int) -> int:
    """A reader library's own threads: every core without workers, each worker's share with them."""
    return cores if workers == 0 else max(1, cores // workers)


def reopen_reader(reader, num_workers: int) -> None:
    """Drop the reader handles a forked worker inherited; the worker reopens its own lazily, its
    library's threads capped at the worker's share of the cores (as torch caps its own at one).

    HDF5 (and any library with process-wide state) is unsafe to use through handles opened
    before a fork.
    """
    reader.close()
    if hasattr(reader, "limit_threads"):
        reader.limit_threads(threads_per_worker(os.cpu_count() or 1, num_workers))
