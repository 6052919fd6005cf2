"""Step 3, GPU decode for the files format: nvJPEG on batches (``decoder=nvjpeg``) against the
CPU decoders on one host core."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ... import formats
from .measure import cuda_sync, each, timed, write_synthetic
from .settings import ANCHORS, Sizes
from .table import make_row, not_measured

WHAT_DIFF, DIFF_TARGET = "nvJPEG vs PIL, mean |difference| per pixel", ("<=", 2.0)


def decode_rate(reader, n: int, batch: int, sync: Callable[[], None] = lambda: None) -> float:
    reader.read(np.arange(min(n, batch)))  # warm up (nvJPEG's handles, the page cache)
    sync()
    batches = [np.arange(s, min(s + batch, n)) for s in range(0, n, batch)]
    return n / timed(each(reader.read, batches), sync)


def step_decode(work: Path, sizes: Sizes, gpu: str | None, emit: Callable[[dict], dict]) -> None:
    """Step 3: JPEG decode of CIFAR-size files, on one host core and by nvJPEG on the GPU."""
    from ...formats.files import decode_nvjpeg

    n, path = sizes.jpeg_images, work / "jpeg"
    write_synthetic("files", n, path, encoding="jpeg", quality=90)
    fmt, host = formats.get("files"), "host cpu, 1 core" if gpu else "cpu, 1 core"
    for decoder in ("pil", "torchvision"):
        with fmt.open(path, decoder=decoder) as reader:
            emit(make_row("3", f"JPEG decode, files decoder={decoder}", decode_rate(reader, n, sizes.batch),
                          "img/s", host, note=f"{n:,} images, batches of {sizes.batch}"))
    what_nv, what_read = f"JPEG decode, nvJPEG, batch {sizes.batch} (bytes in memory)", "files decoder=nvjpeg (read + decode)"
    if gpu is None:
        emit(not_measured("3", what_nv, "img/s", "no CUDA device", anchor=ANCHORS["nvjpeg"]))
        emit(not_measured("3", what_read, "img/s", "no CUDA device"))
        emit(not_measured("3", WHAT_DIFF, "", "no CUDA device", target=DIFF_TARGET))
        return
    with fmt.open(path, decoder="nvjpeg") as reader, fmt.open(path, decoder="pil") as pil:
        blobs = [(reader.path / rel).read_bytes() for rel in reader.rel_paths]
        decode_nvjpeg(blobs[:sizes.batch])
        cuda_sync()
        seconds = timed(each(decode_nvjpeg, [blobs[s:s + sizes.batch] for s in range(0, n, sizes.batch)]), cuda_sync)
        emit(make_row("3", what_nv, n / seconds, "img/s", gpu, anchor=ANCHORS["nvjpeg"]))
        emit(make_row("3", what_read, decode_rate(reader, n, sizes.batch, cuda_sync), "img/s", gpu))
        first = np.arange(min(n, sizes.batch))
        diff = float(np.abs(reader.read(first).cpu().numpy().astype(np.int16) - pil.read(first)).mean())
        emit(make_row("3", WHAT_DIFF, diff, "", gpu, target=DIFF_TARGET, note="JPEG decoders may differ slightly"))
