"""The access modes, one class each behind one small interface (:class:`AccessMode`), and the
registry :data:`MODES` that names them, as :mod:`thesis_lib.formats` names the formats.

A mode says which options it takes (:attr:`~AccessMode.defaults`), in what order it visits the
samples (:meth:`~AccessMode.sampler`), whether it reads through a torch DataLoader
(:attr:`~AccessMode.uses_data_loader`) and how it reads (:meth:`~AccessMode.loader`; for a
DataLoader mode, its dataset and batching). A fifth mode is one class here and one entry in
:data:`MODES`.
"""
from __future__ import annotations

import abc
import itertools
import sys
from collections.abc import Iterable, Iterator
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Sampler

from .datasets import BatchDataset, SampleDataset, WindowDataset, collate_batch
from .loaders import DataLoaderLoader, Loader, ResidentLoader
from .options import LoaderRequest, block_window, check_option_values, resolve_block_size
from .orders import ArrayBatches, BlockWindows, rebatch, shard_size
from .reads import read_resident, reopen_in_worker
from .stream import StreamDataset, StreamOrder, check_buffer, shard_ranges
from .shared import CIFAR10_MEAN, CIFAR10_STD, Batch
from .ring import RingWorkers, ring_capacity
from .threads import WORKER_KINDS, ThreadWorkers

#: Options every mode takes, with their defaults.
TRANSFORM_OPTIONS = {"normalize": True, "mean": CIFAR10_MEAN, "std": CIFAR10_STD, "crop_padding": None}
#: Options of the modes that read through a DataLoader.
WORKER_OPTIONS = {"mp_context": "fork" if sys.platform.startswith("linux") else None, "prefetch_factor": 2,
                  "ring_slot_mib": None}


class AccessMode(abc.ABC):
    """One way from a reader to batches of uint8 NHWC images and int64 labels."""

    name: str = ""
    #: Option name -> default, besides :data:`TRANSFORM_OPTIONS`. Unknown options raise ValueError.
    defaults: dict = {}
    #: Whether it reads through a torch DataLoader (and so takes ``workers``).
    uses_data_loader: bool = False
    #: Whether its sample order follows the format's own layout (a stream's shards), so two formats
    #: holding the same bytes are read in different orders and need not train the same model.
    order_follows_layout: bool = False
    #: The kinds of worker it can read through.
    worker_kinds: tuple[str, ...] = WORKER_KINDS

    def sampler(self, request: LoaderRequest) -> Sampler:
        """The order of one rank's samples: torch's DistributedSampler, unless the mode has its own."""
        return DistributedSampler(range(len(request.reader)), num_replicas=request.world_size, rank=request.rank,
                                  shuffle=request.shuffle, seed=request.seed, drop_last=request.drop_last)

    @abc.abstractmethod
    def loader(self, request: LoaderRequest, sampler: Sampler, loader_args: dict) -> Loader:
        """The loader reading ``request.reader`` in ``sampler``'s order; ``loader_args`` are
        :class:`~.loaders.Loader`'s arguments."""


class DataLoaderMode(AccessMode):
    """A mode that reads through a torch DataLoader, whose sampler sets the order."""

    defaults = WORKER_OPTIONS
    uses_data_loader = True

    @abc.abstractmethod
    def dataset(self, request: LoaderRequest, sampler: Sampler) -> tuple[Dataset, dict]:
        """The DataLoader's dataset and its batching arguments (``batch_size``, ``batch_sampler``,
        ``collate_fn``...); the sampler is added unless a ``batch_sampler`` is given."""

    def batches(self, items: Iterator, batch_size: int, drop_last: bool) -> Iterator[Batch]:
        """The batches in the DataLoader's items: the items themselves, unless the mode's are not batches."""
        return items

    def loader(self, request: LoaderRequest, sampler: Sampler, loader_args: dict) -> Loader:
        return DataLoaderLoader(partial(self.data_loader, request, sampler), sampler, self.batches, **loader_args)

    def data_loader(self, request: LoaderRequest, sampler: Sampler) -> Iterable:
        """The torch DataLoader behind the mode, or with thread or ring workers their pool."""
        dataset, batching = self.dataset(request, sampler)
        if request.workers and request.worker_kind == "thread":
            return ThreadWorkers(dataset, batching, sampler, request.workers, request.options["prefetch_factor"],
                                 request.pins_memory)
        if request.workers and request.worker_kind == "ring":
            capacity = ring_capacity(request.batch_size, request.reader.image_shape,
                                     request.options["ring_slot_mib"])
            return RingWorkers(dataset, batching, sampler, request.workers, request.options["prefetch_factor"],
                               capacity, request.options["mp_context"], request.pins_memory)
        parallel = {}
        if request.workers:
            parallel = dict(multiprocessing_context=request.options["mp_context"], persistent_workers=True,
                            prefetch_factor=request.options["prefetch_factor"], worker_init_fn=reopen_in_worker)
        if "batch_sampler" not in batching and not isinstance(dataset, IterableDataset):
            batching["sampler"] = sampler
        return DataLoader(dataset, num_workers=request.workers, pin_memory=request.pins_memory, **batching, **parallel)


class SampleMode(DataLoaderMode):
    """``sample``: ``Dataset.__getitem__`` reads one image; the default collate stacks them."""

    name = "sample"

    def dataset(self, request: LoaderRequest, sampler: Sampler) -> tuple[Dataset, dict]:
        return SampleDataset(request.reader), dict(batch_size=request.batch_size, drop_last=request.drop_last)


class BatchMode(DataLoaderMode):
    """``batch``: ``Dataset.__getitems__`` reads a whole batch with one read of its sorted indices."""

    name = "batch"

    def dataset(self, request: LoaderRequest, sampler: Sampler) -> tuple[Dataset, dict]:
        batches = ArrayBatches(sampler, request.batch_size, request.drop_last)
        return BatchDataset(request.reader), dict(batch_sampler=batches, collate_fn=collate_batch)


class BlockMode(DataLoaderMode):
    """``block``: chunk-aligned blocks shuffled within windows; a DataLoader item is one window,
    already cut into batches, and a batch that straddles two windows is joined here."""

    name = "block"
    defaults = {**WORKER_OPTIONS, "block_size": None, "window": None}

    def sampler(self, request: LoaderRequest) -> Sampler:
        block_size = resolve_block_size(request.reader, request.options["block_size"])
        window = block_window(block_size, request.batch_size, request.options["window"])
        return BlockWindows(len(request.reader), block_size=block_size, window=window, shuffle=request.shuffle,
                            seed=request.seed, rank=request.rank, world_size=request.world_size,
                            drop_last=request.drop_last)

    def dataset(self, request: LoaderRequest, sampler: Sampler) -> tuple[Dataset, dict]:
        dataset = WindowDataset(request.reader, request.batch_size, pin=request.pins_memory)
        return dataset, dict(batch_size=None, collate_fn=collate_batch)

    def batches(self, items: Iterator, batch_size: int, drop_last: bool) -> Iterator[Batch]:
        # each item is a window's list of batches
        return rebatch(itertools.chain.from_iterable(items), batch_size, drop_last)


class StreamMode(DataLoaderMode):
    """``stream``: shards in a new order each epoch, read one after another, through a shuffle
    buffer of ``buffer`` images shared out among the workers (WebDataset's way; :mod:`.stream`).
    A DataLoader item is a worker's batch; a worker's short last batch is joined here."""

    name = "stream"
    defaults = {**WORKER_OPTIONS, "buffer": None}
    order_follows_layout = True  # a WebDataset shard, a LitData chunk or a format's block is the unit
    DEFAULT_BUFFER = 10_000

    # An IterableDataset: thread workers read a map-style dataset's items, and ring workers gather
    # a sampler's batches into their slots.
    worker_kinds = ("process",)

    def sampler(self, request: LoaderRequest) -> StreamOrder:
        if request.workers and request.worker_kind not in self.worker_kinds:
            raise ValueError(f"make_loader(mode='stream'): its shuffle buffer is shared out among worker processes "
                             f"(an IterableDataset), which {request.worker_kind} workers cannot read; use "
                             f"worker_kind='process', or mode 'batch' or 'block' with {request.worker_kind} workers")
        if request.reader.on_device:
            raise ValueError(f"make_loader(mode='stream'): the shuffle buffer is in host memory, and reader "
                             f"{request.reader} returns device arrays; use mode 'block' or 'resident'")
        n, buffer = len(request.reader), request.options["buffer"]
        if buffer is None:
            buffer = max(min(self.DEFAULT_BUFFER, n), min(request.batch_size, n))
        return StreamOrder(shard_ranges(request.reader), check_buffer(buffer, request.batch_size, n),
                           seed=request.seed, shuffle=request.shuffle, workers=request.workers,
                           num_samples=shard_size(n, request.world_size, request.drop_last), rank=request.rank,
                           world_size=request.world_size)

    def dataset(self, request: LoaderRequest, sampler: Sampler) -> tuple[Dataset, dict]:
        return StreamDataset(request.reader, sampler, request.batch_size), dict(batch_size=None, collate_fn=collate_batch)

    def batches(self, items: Iterator, batch_size: int, drop_last: bool) -> Iterator[Batch]:
        return rebatch(items, batch_size, drop_last)


class ResidentMode(AccessMode):
    """``resident``: the whole set read once into one uint8 tensor on the device when the loader
    is made; each batch a gather there. No DataLoader."""

    name = "resident"
    defaults = {"chunk_size": 4096}

    def loader(self, request: LoaderRequest, sampler: Sampler, loader_args: dict) -> Loader:
        images = read_resident(request.reader, request.device, request.options["chunk_size"])
        labels = torch.from_numpy(np.array(request.reader.labels, dtype=np.int64)).to(request.device)
        return ResidentLoader(images, labels, sampler, **loader_args)


#: The access modes by name, in the thesis's order.
MODES: dict[str, AccessMode] = {mode.name: mode for mode in (SampleMode(), BatchMode(), BlockMode(), ResidentMode(),
                                                               StreamMode())}


def resolve_options(mode: str, options: dict) -> dict:
    """Defaults of ``mode`` merged with ``options``; ValueError naming an unknown mode or option,
    or an option whose value is invalid."""
    if mode not in MODES:
        raise ValueError(f"unknown access mode {mode!r}; valid modes: {', '.join(MODES)}")
    defaults = {**TRANSFORM_OPTIONS, **MODES[mode].defaults}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"make_loader(mode={mode!r}): unknown option {unknown[0]!r}; "
                         f"valid options: {', '.join(sorted(defaults))}")
    resolved = {**defaults, **options}
    check_option_values(resolved)
    return resolved
