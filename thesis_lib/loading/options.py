"""The arguments of :func:`~thesis_lib.loading.make_loader` checked and resolved against the
reader: option values, rank and world size, block mode's block size and window, the workers'
start method. Each error names the argument and the value.
"""
from __future__ import annotations

import math
import multiprocessing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.checks import checked_int


@dataclass(frozen=True)
class LoaderRequest:
    """What :func:`~thesis_lib.loading.make_loader` was asked for, checked: what an access mode
    builds its sampler and its loader from. ``options`` holds the mode's options, defaults filled in."""

    reader: Any
    batch_size: int
    shuffle: bool
    workers: int
    worker_kind: str
    seed: int
    device: torch.device
    drop_last: bool
    rank: int
    world_size: int
    options: dict

    @property
    def pins_memory(self) -> bool:
        """Whether host batches are pinned: on CUDA, unless the reader returns device arrays."""
        return self.device.type == "cuda" and not self.reader.on_device


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


def check_worker_kind(reader, worker_kind: str, kinds: tuple[str, ...], workers: int) -> None:
    """ValueError naming ``worker_kind`` when it is not one of ``kinds``, or naming the reader
    when ``workers`` thread workers are asked of a reader that threads must not share."""
    if worker_kind not in kinds:
        raise ValueError(f"make_loader: worker_kind must be one of {', '.join(kinds)}, got {worker_kind!r}")
    if workers and worker_kind == "thread" and not getattr(reader, "thread_safe", True):
        raise ValueError(f"make_loader: {reader} ({type(reader).__name__}) is not safe to read from several "
                         "threads at once; use worker_kind='process'")


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
    multiprocessing.set_forkserver_preload(["torch", __package__, type(reader).__module__])
    return "forkserver"
