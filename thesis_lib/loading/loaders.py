"""The loaders :func:`~thesis_lib.loading.make_loader` returns: a DataLoader's batches, or the
resident set's gathers, each moved and transformed on the device.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..core import cache
from .orders import ArrayBatches
from .reads import gather_rows
from .shared import Batch
from .transforms import DeviceTransform


class Loader:
    """What :func:`make_loader` returns: an iterable of device batches with ``len`` and ``set_epoch``.

    Attributes: ``mode``, ``batch_size``, ``device``, ``num_samples`` (this rank's samples per
    epoch), ``rank``, ``world_size``, ``setup_s`` (seconds spent making it: the whole read for
    ``resident``).
    """

    def __init__(self, reader, mode: str, batch_size: int, num_samples: int, drop_last: bool,
                 transform: DeviceTransform, rank: int, world_size: int):
        self.reader = reader
        self.mode, self.batch_size, self.num_samples = mode, batch_size, num_samples
        self.drop_last, self.transform = drop_last, transform
        self.device = transform.device
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.setup_s = 0.0

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order (and augmentation) the next iteration gives."""
        self.epoch = epoch
        self.transform.set_epoch(epoch)

    def release(self) -> None:
        """Close every handle on the dataset's files, here and in DataLoader workers.

        The next epoch reopens them (and restarts workers). Needed before a cold-cache eviction:
        the kernel does not drop pages that some process still maps (an open memmap).
        """
        self.reader.close()

    def evict(self) -> float:
        """Drop the dataset's files from the page cache; returns the fraction still cached.

        That fraction stays near 1.0 on a memory-backed file system (tmpfs), where nothing can be
        evicted. For ``resident`` it only matters before the loader is made: its one read is then.
        """
        self.release()
        files = self.reader.files()
        cache.evict(files)
        return cache.resident_fraction(files)

    def raw_batches(self) -> Iterator[Batch]:
        """uint8 NHWC images and int64 labels as read, before the device transform."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Batch]:
        for images, labels in self.raw_batches():
            yield self.transform(images, labels)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} mode={self.mode} batch_size={self.batch_size} "
                f"batches={len(self)} device={self.device} rank={self.rank}/{self.world_size}>")


class DataLoaderLoader(Loader):
    """``sample``, ``batch`` and ``block``: a torch DataLoader whose sampler sets the order.

    ``to_batches(items, batch_size, drop_last)`` turns the stream of the DataLoader's items into
    batches (the mode's :meth:`~.modes.DataLoaderMode.batches`).
    """

    def __init__(self, make_data_loader: Callable[[], DataLoader], sampler,
                 to_batches: Callable[[Iterator, int, bool], Iterator[Batch]], **kwargs):
        super().__init__(**kwargs)
        self.make_data_loader, self.sampler, self.to_batches = make_data_loader, sampler, to_batches
        self.data_loader = make_data_loader()

    def release(self) -> None:
        # A fresh DataLoader drops the old one, whose persistent workers then shut down.
        self.data_loader = self.make_data_loader()
        super().release()

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def raw_batches(self) -> Iterator[Batch]:
        return self.to_batches(iter(self.data_loader), self.batch_size, self.drop_last)


class ResidentLoader(Loader):
    """``resident``: the whole set in one device tensor, gathered batch by batch."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, sampler: DistributedSampler, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels, self.sampler = images, labels, sampler

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def raw_batches(self) -> Iterator[Batch]:
        for rows in ArrayBatches(self.sampler, self.batch_size, self.drop_last):
            yield gather_rows(self.images, rows), gather_rows(self.labels, rows)
