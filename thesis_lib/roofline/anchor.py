"""The H100 anchor profile: the primitives that docs/design.md's "Reference figures" (one H100 host,
16 cores, CIFAR-shaped 32 px data, random batches of 512, warm cache) give, each derived in the
open; every other primitive is unmeasured, with the reason.

Those figures are single runs: a value's interval is the value itself, and its ``source`` says so.
"""
from __future__ import annotations

import math

from .profile import FIELDS, Profile, Stat

N, PX, CHUNK, BATCH = 50_000, 32, 64, 512  # the reference set, its zarr chunk, the batch
IMAGE_BYTES = PX * PX * 3
MiB = 2**20
FIGURES = {"memmap_gather": 1_326_000, "zarr_oindex": 2_400, "png_pil": 9_000, "jpeg_pil": 7_500}  # img/s
WHERE = 'docs/design.md, "Reference figures" (one H100 host, 16 cores), a single figure without interval'


def chunks_touched(n: int = N, chunk: int = CHUNK, batch: int = BATCH) -> float:
    """Expected chunks a uniformly random batch of ``batch`` distinct images out of ``n`` touches."""
    untouched = math.exp(sum(math.log((n - chunk - i) / (n - i)) for i in range(batch)))
    return math.ceil(n / chunk) * (1 - untouched)


def _exact(value: float, source: str) -> Stat:
    return Stat(value, value, value, source=f"{WHERE}: {source}")


def values() -> dict[str, Stat]:
    gather_gbps = FIGURES["memmap_gather"] * IMAGE_BYTES / 1e9
    touched = chunks_touched()
    batch_us = BATCH / FIGURES["zarr_oindex"] * 1e6
    bytes_us = touched * CHUNK * IMAGE_BYTES / (gather_gbps * 1e9) * 1e6
    return {
        "memory.gather_gbps": _exact(gather_gbps, f"NumPy memmap batch gather, warm, {FIGURES['memmap_gather']:,} "
                                     f"img/s x {IMAGE_BYTES} B (rows of 3 KiB, not 12 KiB)"),
        "decode.png.32": _exact(1e6 / FIGURES["png_pil"], f"PNG decode, PIL, one core, {FIGURES['png_pil']:,} img/s"),
        "decode.jpeg.32": _exact(1e6 / FIGURES["jpeg_pil"], f"JPEG decode, PIL, one core, {FIGURES['jpeg_pil']:,} img/s"),
        "request.memmap.us_per_mib": _exact(MiB / (gather_gbps * 1e9) * 1e6,
                                            f"the same memmap gather, {FIGURES['memmap_gather']:,} img/s x "
                                            f"{IMAGE_BYTES} B, per MiB"),
        "request.zarr-python-oindex.fixed_us": _exact(
            (batch_us - bytes_us) / touched,
            f"Zarr v3 oindex random, 64-image chunks, {FIGURES['zarr_oindex']:,} img/s: a batch's "
            f"{batch_us:,.0f} us less its chunks' bytes at the memory gather rate ({bytes_us:,.0f} us), over the "
            f"{touched:.1f} chunks a random batch of {BATCH} out of {N:,} touches"),
    }


REASONS = {
    "memory.index": "the anchors give no gather by indexing into a fresh array",
    "file": "the anchors give no time to open and read one file",
    "page_cache": "the anchors give no page-cache read rate",
    "storage": "the anchors were measured warm: no storage figure",
    "decode.png": "PIL's PNG decode is given at 32 px only",
    "decode.jpeg": "PIL's JPEG decode is given at 32 px only (ImageFolder's rates include ToTensor and "
                   "per-sample DataLoader costs, so they are not a decode figure)",
    "decode": "the anchors give no codec decode rate",
    "request.h5py-chunk": "the anchors' HDF5 random read is h5py's fancy point selection on a contiguous "
                          "dataset, not a read per chunk",
    "request": "the anchors give no read through this path",
    "workers": "the anchors give no worker start-up time",
    "handover": "the anchors' worker rates (per-sample DataLoader, ImageFolder) mix handover with reading "
                "and collating: no handover figure",
    "python": "the anchors give no loader's own Python time per batch",
}


def _reason(name: str) -> str:
    for prefix in sorted(REASONS, key=len, reverse=True):
        if name.startswith(prefix):
            return REASONS[prefix]
    raise KeyError(name)


def profile() -> Profile:
    measured = values()
    return Profile({"description": "one H100 host, 16 cores: the anchor figures of docs/design.md",
                    "cores": 16, "gpu": "NVIDIA H100", "data": "CIFAR-shaped uint8, 50,000 x 32x32x3, warm cache"},
                   measured, {name: _reason(name) for name in FIELDS if name not in measured})
