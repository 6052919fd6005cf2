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

import sys
import time
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .datasets import BatchDataset, SampleDataset, WindowDataset, collate_batch
from .loaders import DataLoaderLoader, Loader, ResidentLoader
from .options import (block_window, check_int, check_option_values, resolve_block_size, resolve_rank,
                      worker_context)
from .orders import ArrayBatches, BlockWindows, batch_cuts, concatenate, rebatch, shard_size
from .reads import (as_tensor, cat, contiguous_runs, gather_rows, read_indices, read_range, read_resident,
                    reopen_in_worker)
from .shared import CIFAR10_MEAN, CIFAR10_STD, Batch
from .transforms import DeviceTransform, random_crop_flip

MODES = ("sample", "batch", "block", "resident")

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


__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD", "MODE_OPTIONS", "MODES", "TRANSFORM_OPTIONS", "WORKER_OPTIONS",
    "ArrayBatches", "Batch", "BatchDataset", "BlockWindows", "DataLoaderLoader", "DeviceTransform", "Loader",
    "ResidentLoader", "SampleDataset", "WindowDataset", "as_tensor", "batch_cuts", "block_window", "cat",
    "check_int", "check_option_values", "collate_batch", "concatenate", "contiguous_runs", "gather_rows",
    "make_data_loader", "make_loader", "random_crop_flip", "read_indices", "read_range", "read_resident",
    "rebatch", "reopen_in_worker", "resolve_block_size", "resolve_options", "resolve_rank", "shard_size",
    "worker_context",
]
