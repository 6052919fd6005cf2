"""Step 4, host to device: pinned versus pageable copies of a uint8 batch and of a large buffer."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .measure import cuda_sync, timed
from .settings import ANCHORS, GB, Sizes
from .table import make_row, not_measured


def copy_rate(nbytes: int, pinned: bool, repeats: int) -> float:
    """GB/s of host-to-device copies of ``nbytes`` uint8 bytes from pinned or pageable memory."""
    src = torch.randint(0, 256, (nbytes,), dtype=torch.uint8)
    if pinned:
        src = src.pin_memory()
    dst = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    dst.copy_(src, non_blocking=pinned)
    cuda_sync()
    seconds = timed(lambda: [dst.copy_(src, non_blocking=pinned) for _ in range(repeats)], cuda_sync)
    return nbytes * repeats / GB / seconds


def step_copies(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> None:
    """Step 4: pinned versus pageable host-to-device copies, of one uint8 batch and of 256 MiB."""
    batch_bytes = sizes.batch * 32 * 32 * 3
    shapes = [(f"batch {sizes.batch}x32x32x3 ({batch_bytes / 2**20:.1f} MiB)", batch_bytes, sizes.copy_repeats),
              ("256 MiB", 256 * 2**20, max(3, sizes.copy_repeats // 10))]
    for label, nbytes, repeats in shapes:
        for kind in ("pinned", "pageable"):
            what = f"host to device, {kind}, {label}"
            if gpu is None:
                emit(not_measured("4", what, "GB/s", "no CUDA device", anchor=ANCHORS[kind]))
            else:
                emit(make_row("4", what, copy_rate(nbytes, kind == "pinned", repeats), "GB/s", gpu,
                              anchor=ANCHORS[kind]))
