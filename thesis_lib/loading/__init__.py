"""From a format reader to training batches: the four access modes and the on-device transforms.

>>> loader = make_loader(reader, batch_size=512, mode="block", device="cuda", augment=True)
>>> for epoch in range(epochs):
...     loader.set_epoch(epoch)
...     for images, labels in loader:   # float32 NCHW normalised, int64, both on the device
...         ...

The modes differ only in how images leave storage (see DESIGN.md, "Access modes"):

``sample``
    ``Dataset.__getitem__`` reads one image; the DataLoader's default collate stacks them.
``batch``
    ``Dataset.__getitems__`` reads a whole batch with one ``reader.read`` of its sorted indices,
    then puts the images back in the sampler's order.
``block``
    Chunk-aligned blocks in shuffled order, shuffled again within a window of ``window`` blocks
    (FFCV's ``QUASI_RANDOM``). A DataLoader item is one window: its blocks are read as contiguous
    runs into a buffer the dataset reuses (``reader.read_ranges_into``), and the window's batches
    are gathered from it, cut where the epoch's batches begin; a memory-mapped reader gathers each
    batch straight from its map instead. Only a batch that straddles two windows is joined, in the
    main process.
``resident``
    The whole set is read once into a uint8 tensor on the device (host RAM for ``cpu``) when the
    loader is made; each batch is a gather on the device. No DataLoader, so ``workers`` is ignored.

Sample order. ``sample``, ``batch`` and ``resident`` visit samples in the same order for a given
seed and epoch: torch's :class:`~torch.utils.data.DistributedSampler` permutation (``randperm``
seeded with ``seed + epoch``; for ``resident`` computed on the host and gathered on the device).
``block`` visits a different order, drawn by NumPy from ``(seed, epoch)``. Every mode sees every
sample exactly once per epoch (unless ``drop_last`` drops the last partial batch); call
:meth:`Loader.set_epoch` before each epoch for a new order, as with DistributedSampler.

Distributed (``distributed=True``): each rank reads a disjoint shard of ``ceil(n / world_size)``
samples. As DistributedSampler does, the shards are padded to equal length by repeating the first
indices of the epoch's order (at most ``world_size - 1`` samples are then seen twice), or with
``drop_last`` the tail is dropped so no sample repeats. ``sample``/``batch``/``resident`` shard by
DistributedSampler's stride (rank ``r`` takes every ``world_size``-th index from ``r``); ``block``
gives each rank a contiguous slice of the block-shuffled order, so its reads stay contiguous.

Transforms run on the target device over whole batches, after the uint8 batch is moved there
(uint8 moves four times fewer bytes than float32): optional random crop with zero padding
(``image_size // 8`` px, 4 px at 32 px) and horizontal flip, then ``(x / 255 - mean) / std``.
On CUDA the host batches are pinned, copies are non-blocking and images are channels_last.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, get_worker_info

from .. import cache
from ..checks import checked_int

MODES = ("sample", "batch", "block", "resident")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

#: Options every mode takes, with their defaults.
TRANSFORM_OPTIONS = {"normalize": True, "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "crop_padding": None}
#: Options of the modes that read through a DataLoader.
WORKER_OPTIONS = {"mp_context": "fork" if sys.platform.startswith("linux") else None, "prefetch_factor": 2}
MODE_OPTIONS = {
    "sample": WORKER_OPTIONS,
    "batch": WORKER_OPTIONS,
    "block": {**WORKER_OPTIONS, "block_size": None, "window": None},
    "resident": {"chunk_size": 4096},
}

Batch = tuple[torch.Tensor, torch.Tensor]


# -- reading --------------------------------------------------------------------------------------
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
    torch's advanced indexing of uint8 images."""
    if images.device.type == "cpu":
        return torch.from_numpy(images.numpy()[rows])
    return images[torch.from_numpy(rows).to(images.device)]


def read_range(reader, start: int, stop: int) -> torch.Tensor:
    """Images ``start..stop-1`` as a uint8 NHWC tensor: one contiguous read."""
    if reader.on_device:
        return reader.read_torch(np.arange(start, stop))
    return as_tensor(reader.read_range(start, stop))


def contiguous_runs(sorted_unique: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering strictly increasing indices with maximal runs."""
    breaks = np.flatnonzero(np.diff(sorted_unique) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(sorted_unique, breaks)]


def reopen_in_worker(worker_id: int) -> None:
    """Drop the reader handles a forked worker inherited; the worker reopens its own lazily, its
    library's threads capped at the worker's share of the cores (as torch caps its own at one).

    HDF5 (and any library with process-wide state) is unsafe to use through handles opened
    before a fork.
    """
    info = get_worker_info()
    reader = info.dataset.reader
    reader.close()
    if hasattr(reader, "limit_threads"):
        reader.limit_threads(max(1, (os.cpu_count() or 1) // info.num_workers))


# -- datasets, one per DataLoader mode ----------------------------------------------------------
class SampleDataset(Dataset):
    """One image per ``__getitem__``: the habit of most PyTorch tutorials."""

    def __init__(self, reader):
        self.reader = reader
        self.labels = np.array(reader.labels, dtype=np.int64)

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
            return read_indices(self.reader, indices), torch.from_numpy(self.labels[indices])
        order = np.argsort(indices, kind="stable")
        images_sorted = read_indices(self.reader, indices[order])
        back = np.empty_like(order)
        back[order] = np.arange(len(order))  # the inverse permutation: back to the sampler's order
        return gather_rows(images_sorted, back), torch.from_numpy(self.labels[indices])


def batch_cuts(first: int, count: int, batch_size: int) -> np.ndarray:
    """Where the epoch's batches begin inside a window of ``count`` samples whose first sample is
    the epoch's ``first``-th: ``[0, ..., count]``, so consecutive cuts bound whole batches or the
    window's share of a batch that straddles two windows."""
    inner = np.arange(-first % batch_size, count, batch_size)
    return np.unique(np.r_[0, inner, count])


class WindowDataset(SampleDataset):
    """A whole block-mode window per item, given as ``(first, indices, following)``: the position of
    its first sample in the epoch's order, its indices in visiting order, and the next window's
    indices (None for the last). Returns the window's batches (a straddling batch's share at either
    edge) as a list of ``(images, labels)``.

    The window's blocks are read as contiguous runs into a buffer that the dataset keeps (each
    DataLoader worker its own), and every batch is a gather from it: one copy per image beyond
    the read, into the batch itself. In the main process (no workers) a reader that reads in
    the background (TensorStore, ``reads_in_background``) reads the next window into a second
    buffer meanwhile, overlapping its threads with the gathers. A memory-mapped reader
    (``gathers_any_order``) gathers each batch straight from its map, as batch mode does; a device
    reader reads the window's blocks to the device and gathers the batches there.
    """

    def __init__(self, reader, batch_size: int, pin: bool = False):
        super().__init__(reader)
        self.batch_size, self.pin = batch_size, pin
        self.buffers: list[np.ndarray | None] = [None, None]
        self.ahead = None  # (indices, rows) of the window being read ahead into buffers[1]

    def __getstate__(self):
        return {**self.__dict__, "buffers": [None, None], "ahead": None}

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
        if following is not None and getattr(self.reader, "reads_in_background", False) and get_worker_info() is None:
            unique, following_inverse = np.unique(following, return_inverse=True)
            self.ahead = (following, following_inverse, self.start_window(unique, 1))
        return rows, inverse

    def __getitem__(self, item: tuple[int, np.ndarray, np.ndarray | None]) -> Iterable[Batch]:
        first, indices, following = item
        if getattr(self.reader, "gathers_any_order", False):
            def gather(a: int, b: int) -> torch.Tensor:
                return read_indices(self.reader, indices[a:b])
        elif getattr(self.reader, "on_device", False):  # whole blocks read to the device, gathered there
            unique, rows = np.unique(indices, return_inverse=True)
            runs = [read_range(self.reader, start, stop) for start, stop in contiguous_runs(unique)]
            window = runs[0] if len(runs) == 1 else cat(runs)

            def gather(a: int, b: int) -> torch.Tensor:
                return gather_rows(window, rows[a:b])
        else:
            host_window, rows = self.read_window(indices, following)

            def gather(a: int, b: int) -> torch.Tensor:
                return torch.from_numpy(host_window[rows[a:b]])
        cuts = batch_cuts(first, len(indices), self.batch_size)
        batches = ((self.pinned(gather(a, b)), torch.from_numpy(self.labels[indices[a:b]]))
                   for a, b in zip(cuts[:-1], cuts[1:]))
        # In the main process each batch is gathered when asked for, one alive at a time as in batch
        # mode: a window's batches made at once (8 x 6 MB at 64 px) made glibc return the memory to
        # the kernel and fault it in again (npy block 560k img/s, 930k with glibc's trimming off).
        return batches if get_worker_info() is None else list(batches)

    def pinned(self, images: torch.Tensor) -> torch.Tensor:
        # The DataLoader pins what a worker hands over, not batches the main process makes lazily.
        return images.pin_memory() if self.pin and get_worker_info() is None else images


def collate_batch(batch: Batch) -> Batch:
    """``__getitems__`` already returns stacked tensors: nothing to copy."""
    return batch


# -- sample orders --------------------------------------------------------------------------------
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


def cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat``; on the CPU through NumPy, which copies on one thread: torch's copy runs on
    its OpenMP threads, and on a busy machine waiting for the second core cost 5-15 ms per batch
    of 512 images instead of 0.04 ms (measured on 2 shared cores)."""
    if all(t.device.type == "cpu" for t in tensors):
        return torch.from_numpy(np.concatenate([t.numpy() for t in tensors]))
    return torch.cat(tensors)


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


# -- on-device transforms ---------------------------------------------------------------------
def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per image: a random ``H x W`` crop of the zero-padded image, mirrored with probability 1/2.

    ``images`` is NHWC; crop and flip are one gather, on whatever device ``images`` lives.
    """
    n, height, width, _ = images.shape
    device = images.device
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
    flip = torch.rand((n, 1), generator=generator, device=device) < 0.5
    cols = torch.arange(width, device=device)
    cols = torch.where(flip, width - 1 - cols, cols) + dx
    rows = torch.arange(height, device=device) + dy
    batch = torch.arange(n, device=device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]


class DeviceTransform:
    """Moves a uint8 NHWC batch to the device, then augments and normalises it there."""

    def __init__(self, device: torch.device, *, image_size: int, augment: bool, normalize: bool,
                 mean: Sequence[float], std: Sequence[float], crop_padding: int | None, seed: int):
        self.device = device
        self.augment, self.normalize, self.seed = augment, normalize, seed
        self.crop_padding = max(1, image_size // 8) if crop_padding is None else crop_padding
        # (x / 255 - mean) / std == (x - 255 mean) / (255 std)
        self.shift = 255 * torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale = 255 * torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.generator = torch.Generator(device=device)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> Batch:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        if self.augment:
            images = random_crop_flip(images, self.crop_padding, self.generator)
        images = images.permute(0, 3, 1, 2)
        if not self.normalize:
            # NCHW view of the NHWC batch, i.e. channels_last: no copy (a uint8 permute-copy costs
            # more than reading the batch did).
            return images, labels
        images = images.to(torch.float32, memory_format=self.memory_format)
        return images.sub_(self.shift).div_(self.scale), labels


# -- the loader --------------------------------------------------------------------------------------
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
    """``sample``, ``batch`` and ``block``: a torch DataLoader whose sampler sets the order."""

    def __init__(self, make_data_loader: Callable[[], DataLoader], sampler, **kwargs):
        super().__init__(**kwargs)
        self.make_data_loader, self.sampler = make_data_loader, sampler
        self.data_loader = make_data_loader()

    def release(self) -> None:
        # A fresh DataLoader drops the old one, whose persistent workers then shut down.
        self.data_loader = self.make_data_loader()
        super().release()

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.sampler.set_epoch(epoch)

    def raw_batches(self) -> Iterator[Batch]:
        if self.mode == "block":  # each item is a window's list of batches
            return rebatch(itertools.chain.from_iterable(iter(self.data_loader)), self.batch_size, self.drop_last)
        return iter(self.data_loader)


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


def read_resident(reader, device: torch.device, chunk_size: int) -> torch.Tensor:
    """The whole dataset as one uint8 NHWC tensor on ``device``, read in contiguous chunks."""
    n = len(reader)
    images = torch.empty((n, *reader.image_shape), dtype=torch.uint8, device=device)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        images[start:stop].copy_(read_range(reader, start, stop), non_blocking=False)
    return images


# -- the factory ---------------------------------------------------------------------------------------
def resolve_options(mode: str, options: dict) -> dict:
    """Defaults of ``mode`` merged with ``options``; ValueError naming an unknown mode or option,
    or an option whose value is invalid."""
    if mode not in MODES:
        raise ValueError(f"unknown access mode {mode!r}; valid modes: {', '.join(MODES)}")
    defaults = {**TRANSFORM_OPTIONS, **MODE_OPTIONS[mode]}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"make_loader(mode={mode!r}): unknown option {unknown[0]!r}; "
                         f"valid options: {', '.join(sorted(defaults))}")
    resolved = {**defaults, **options}
    check_option_values(resolved)
    return resolved


def check_int(name: str, value, minimum: int) -> None:
    checked_int(value, f"make_loader: {name}", minimum)


def check_option_values(options: dict) -> None:
    """ValueError naming the first option whose value would make a loader misbehave (a negative
    chunk size reads nothing and leaves the resident tensor uninitialised)."""
    for name in ("chunk_size", "prefetch_factor"):
        if name in options:
            check_int(name, options[name], 1)
    for name in ("block_size", "window"):  # None: derived from the reader and the batch size
        if options.get(name) is not None:
            check_int(name, options[name], 1)
    if options["crop_padding"] is not None:  # 0 is valid: flips without shifts
        check_int("crop_padding", options["crop_padding"], 0)
    if not isinstance(options["normalize"], bool):
        raise ValueError(f"make_loader: normalize must be True or False, got {options['normalize']!r}")
    for name, low in (("mean", -math.inf), ("std", 0.0)):
        values = np.asarray(options[name], dtype=object)
        if values.shape != (3,) or not all(isinstance(v, (int, float, np.number)) and math.isfinite(v)
                                           and v > low for v in values):
            bound = "finite numbers" if name == "mean" else "finite numbers > 0"
            raise ValueError(f"make_loader: {name} must be three {bound} (one per channel), got {options[name]!r}")
    if "mp_context" in options and options["mp_context"] not in (None, "fork", "spawn", "forkserver"):
        raise ValueError(f"make_loader: mp_context must be 'fork', 'spawn' or 'forkserver', "
                         f"got {options['mp_context']!r}")


def resolve_rank(distributed: bool, rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: given, else from torch.distributed; ``(0, 1)`` when not distributed."""
    if not distributed:
        if rank not in (None, 0) or world_size not in (None, 1):
            raise ValueError("make_loader: rank/world_size need distributed=True")
        return 0, 1
    if rank is None or world_size is None:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            raise ValueError("make_loader(distributed=True): pass rank and world_size, "
                             "or initialise torch.distributed first")
        rank = torch.distributed.get_rank() if rank is None else rank
        world_size = torch.distributed.get_world_size() if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"make_loader: rank {rank} outside 0..{world_size - 1}")
    return rank, world_size


def resolve_block_size(reader, block_size: int | None) -> int:
    """Block-mode block size: the reader's chunk, or a multiple of it (so blocks stay aligned)."""
    chunk = max(1, int(reader.block_size))
    if block_size is None:
        return chunk
    if block_size < 1 or block_size % chunk:
        raise ValueError(f"make_loader: block_size={block_size} must be a positive multiple of the "
                         f"reader's block size {chunk}")
    return int(block_size)


def block_window(block_size: int, batch_size: int, window: int | None = None) -> int:
    """Blocks per block-mode window: ``window`` when given, else 8, or as many as one batch needs
    when 8 blocks hold less (small chunks), so a batch comes from one window, not from several
    joined by a copy."""
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"make_loader: window must be an integer >= 1 (blocks), got {window!r}")
        return int(window)
    return max(8, math.ceil(batch_size / block_size))


def worker_context(reader, context: str | None, explicit: bool) -> str | None:
    """The start method of DataLoader workers over ``reader``: ``context``, unless the reader is
    not ``fork_safe`` (a library whose threads do not survive fork): then ``forkserver``, and an
    explicit ``fork`` is refused rather than left to abort or hang in the workers."""
    if getattr(reader, "fork_safe", True) or context in ("spawn", "forkserver"):
        return context
    if explicit and context == "fork":
        raise ValueError(f"make_loader: {reader} cannot be read in forked workers (its library's threads "
                         "do not survive fork); use mp_context='forkserver' or 'spawn'")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    # Workers fork from a server process that has imported torch and the reader's module once
    # (about 0.3 s per worker start instead of 2-4 s for a spawned interpreter on 2 cores). Takes
    # effect when the server starts, i.e. the first time forkserver is used in this process.
    multiprocessing.set_forkserver_preload(["torch", __name__, type(reader).__module__])
    return "forkserver"


def make_loader(reader, *, batch_size: int, mode: str = "batch", shuffle: bool = True, workers: int = 0,
                seed: int = 0, device="cpu", augment: bool = False, distributed: bool = False,
                drop_last: bool = False, rank: int | None = None, world_size: int | None = None,
                **mode_options) -> Loader:
    """A loader over ``reader`` yielding ``(images, labels)`` on ``device`` in access mode ``mode``.

    ``images`` are float32 NCHW normalised with ``mean``/``std`` (CIFAR-10's by default), or with
    ``normalize=False`` the raw uint8 NCHW values; ``labels`` are int64.

    Options (``**mode_options``): every mode takes ``normalize``, ``mean``, ``std`` and
    ``crop_padding`` (augmentation's padding, default ``image_size // 8``); the DataLoader modes
    (``sample``, ``batch``, ``block``) take ``mp_context`` (``"fork"`` on Linux, or ``"spawn"``,
    ``"forkserver"``; ``"forkserver"`` for a reader that is not ``fork_safe``, which refuses
    ``"fork"``) and ``prefetch_factor``; ``block`` takes ``block_size`` (a multiple of
    ``reader.block_size``, the default) and ``window`` (blocks shuffled together: default 8, or
    enough for one batch); ``resident`` takes ``chunk_size`` (images per read while loading).
    """
    started = time.perf_counter()
    options = resolve_options(mode, mode_options)
    check_int("batch_size", batch_size, 1)
    check_int("workers", workers, 0)
    check_int("seed", seed, 0)
    if reader.on_device and workers and mode != "resident":
        raise ValueError(f"make_loader: reader {reader} returns device arrays, which DataLoader "
                         "workers cannot hand over; use workers=0")
    if workers and mode != "resident":
        options["mp_context"] = worker_context(reader, options["mp_context"], explicit="mp_context" in mode_options)
    device = torch.device(device)
    rank, world_size = resolve_rank(distributed, rank, world_size)
    n = len(reader)
    transform = DeviceTransform(device, image_size=int(reader.image_shape[0]), augment=augment,
                                normalize=options["normalize"], mean=options["mean"], std=options["std"],
                                crop_padding=options["crop_padding"], seed=seed)
    common = dict(reader=reader, mode=mode, batch_size=batch_size, num_samples=shard_size(n, world_size, drop_last),
                  drop_last=drop_last, transform=transform, rank=rank, world_size=world_size)

    if mode == "block":
        block_size = resolve_block_size(reader, options["block_size"])
        window = block_window(block_size, batch_size, options["window"])
        sampler = BlockWindows(n, block_size=block_size, window=window, shuffle=shuffle, seed=seed, rank=rank,
                               world_size=world_size, drop_last=drop_last)
    else:
        sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle,
                                     seed=seed, drop_last=drop_last)

    if mode == "resident":
        images = read_resident(reader, device, options["chunk_size"])
        labels = torch.from_numpy(np.array(reader.labels, dtype=np.int64)).to(device)
        loader = ResidentLoader(images, labels, sampler, **common)
    else:
        loader = DataLoaderLoader(partial(make_data_loader, reader, mode, sampler, batch_size, workers,
                                          drop_last, device, options), sampler, **common)
    loader.setup_s = time.perf_counter() - started
    return loader


def make_data_loader(reader, mode: str, sampler, batch_size: int, workers: int, drop_last: bool,
                     device: torch.device, options: dict) -> DataLoader:
    """The torch DataLoader behind ``sample``, ``batch`` and ``block``."""
    if mode == "sample":
        dataset, batching = SampleDataset(reader), dict(batch_size=batch_size, drop_last=drop_last)
    elif mode == "batch":
        dataset = BatchDataset(reader)
        batching = dict(batch_sampler=ArrayBatches(sampler, batch_size, drop_last), collate_fn=collate_batch)
    else:  # block: one item per window, already cut into batches
        dataset = WindowDataset(reader, batch_size, pin=device.type == "cuda" and not reader.on_device)
        batching = dict(batch_size=None, collate_fn=collate_batch)
    parallel = {}
    if workers:
        parallel = dict(multiprocessing_context=options["mp_context"], persistent_workers=True,
                        prefetch_factor=options["prefetch_factor"], worker_init_fn=reopen_in_worker)
    if "batch_sampler" not in batching:
        batching["sampler"] = sampler
    return DataLoader(dataset, num_workers=workers,
                      pin_memory=device.type == "cuda" and not reader.on_device, **batching, **parallel)
