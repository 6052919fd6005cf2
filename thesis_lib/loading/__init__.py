"""From a format reader to training batches: the four access modes and the on-device transforms.

>>> loader = make_loader(reader, batch_size=512, mode="block", device="cuda", augment=True)
>>> for epoch in range(epochs):
...     loader.set_epoch(epoch)
...     for images, labels in loader:   # float32 NCHW normalised, int64, both on the device
...         ...

The modes differ only in how images leave storage (see docs/design.md, "Access modes"):

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

import time

import torch

from .datasets import BatchDataset, ReaderDataset, SampleDataset, WindowDataset, collate_batch
from .loaders import DataLoaderLoader, Loader, ResidentLoader
from .modes import (MODES, TRANSFORM_OPTIONS, WORKER_OPTIONS, AccessMode, BatchMode, BlockMode, DataLoaderMode,
                    ResidentMode, SampleMode, resolve_options)
from .options import (LoaderRequest, block_window, check_int, check_option_values, check_worker_kind,
                      resolve_block_size, resolve_rank, worker_context)
from .orders import ArrayBatches, BlockWindows, batch_cuts, concatenate, rebatch, shard_size
from .reads import (as_tensor, cat, contiguous_runs, gather_rows, read_indices, read_range, read_resident,
                    reopen_in_worker, reopen_reader)
from .ring import RingWorkers, WorkerDied
from .shared import CIFAR10_MEAN, CIFAR10_STD, Batch
from .threads import WORKER_KINDS, ThreadWorkers
from .transforms import DeviceTransform, random_crop_flip


def make_loader(reader, *, batch_size: int, mode: str = "batch", shuffle: bool = True, workers: int = 0,
                worker_kind: str = "process", seed: int = 0, device="cpu", augment: bool = False,
                distributed: bool = False, drop_last: bool = False, rank: int | None = None,
                world_size: int | None = None, **mode_options) -> Loader:
    """A loader over ``reader`` yielding ``(images, labels)`` on ``device`` in access mode ``mode``.

    ``worker_kind``: ``"process"`` (torch DataLoader worker processes), ``"thread"`` (threads of
    this process, :class:`.threads.ThreadWorkers`: no per-batch copy between processes; refused for a reader that
    is not ``thread_safe``) or ``"ring"`` (worker processes writing each batch into a slot of a
    shared-memory ring, :class:`.ring.RingWorkers`: only slot numbers cross). Ignored with 0
    workers and by ``resident``.

    ``images`` are float32 NCHW normalised with ``mean``/``std`` (CIFAR-10's by default), or with
    ``normalize=False`` the raw uint8 NCHW values; ``labels`` are int64.

    Options (``**mode_options``): every mode takes ``normalize``, ``mean``, ``std`` and
    ``crop_padding`` (augmentation's padding, default ``image_size // 8``); the DataLoader modes
    (``sample``, ``batch``, ``block``) take ``mp_context`` (``"fork"`` on Linux, or ``"spawn"``,
    ``"forkserver"``; ``"forkserver"`` for a reader that is not ``fork_safe``, which refuses
    ``"fork"``), ``prefetch_factor`` and ``ring_slot_mib`` (ring workers: a slot's size in MiB,
    default one batch's; a batch larger is refused here); ``block`` takes ``block_size`` (a multiple of
    ``reader.block_size``, the default) and ``window`` (blocks shuffled together: default 8, or
    enough for one batch); ``resident`` takes ``chunk_size`` (images per read while loading).
    """
    started = time.perf_counter()
    options = resolve_options(mode, mode_options)
    access = MODES[mode]
    check_int("batch_size", batch_size, 1)
    check_int("workers", workers, 0)
    check_int("seed", seed, 0)
    check_worker_kind(reader, worker_kind, WORKER_KINDS, workers if access.uses_data_loader else 0)
    if reader.on_device and workers and access.uses_data_loader:
        raise ValueError(f"make_loader: reader {reader} returns device arrays, which DataLoader "
                         "workers cannot hand over; use workers=0")
    if workers and access.uses_data_loader and worker_kind in ("process", "ring"):
        options["mp_context"] = worker_context(reader, options["mp_context"], explicit="mp_context" in mode_options)
    device = torch.device(device)
    rank, world_size = resolve_rank(distributed, rank, world_size)
    n = len(reader)
    transform = DeviceTransform(device, image_size=int(reader.image_shape[0]), augment=augment,
                                normalize=options["normalize"], mean=options["mean"], std=options["std"],
                                crop_padding=options["crop_padding"], seed=seed)
    loader_args = dict(reader=reader, mode=mode, batch_size=batch_size,
                       num_samples=shard_size(n, world_size, drop_last), drop_last=drop_last, transform=transform,
                       rank=rank, world_size=world_size)
    request = LoaderRequest(reader=reader, batch_size=batch_size, shuffle=shuffle, workers=workers,
                            worker_kind=worker_kind, seed=seed, device=device, drop_last=drop_last, rank=rank,
                            world_size=world_size, options=options)
    loader = access.loader(request, access.sampler(request), loader_args)
    loader.setup_s = time.perf_counter() - started
    return loader


__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD", "MODES", "TRANSFORM_OPTIONS", "WORKER_KINDS", "WORKER_OPTIONS", "ThreadWorkers",
    "RingWorkers", "WorkerDied",
    "AccessMode", "ArrayBatches", "Batch", "BatchDataset", "BatchMode", "BlockMode", "BlockWindows",
    "DataLoaderLoader", "DataLoaderMode", "DeviceTransform", "Loader", "LoaderRequest", "ReaderDataset",
    "ResidentLoader", "ResidentMode", "SampleDataset", "SampleMode", "WindowDataset", "as_tensor", "batch_cuts",
    "block_window", "cat", "check_int", "check_option_values", "check_worker_kind", "collate_batch", "concatenate",
    "contiguous_runs",
    "gather_rows", "make_loader", "random_crop_flip", "read_indices", "read_range", "read_resident", "rebatch",
    "reopen_in_worker", "reopen_reader", "resolve_block_size", "resolve_options", "resolve_rank", "shard_size",
    "worker_context",
]
