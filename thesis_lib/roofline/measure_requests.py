"""The fixed cost of one read request through each read path, bytes apart.

Each read path reads a small dataset the project's own format writes into a scratch folder:
8 px images (192 bytes), one image per chunk, uncompressed, so that a request's bytes cost next
to nothing. A trial reads batches of up to 512 images at even positions (no two in one chunk or
one contiguous run): one request each (for ``memmap``, one row of the gather). The cost of a
request is the time per image less its bytes at the measured memory gather rate. Warm: the
files were just written and are read once before timing.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .. import formats, sources
from .trials import BATCH, Settings, Stopwatch

REQUEST_PX = 8
#: Each read path: the format, its write options and its open options.
READ_PATH_LAYOUTS = {
    "memmap": ("npy", {}, {}),
    "zarr-python-oindex": ("zarr", {"chunk_images": 1}, {}),
    "zarr-python-chunks": ("zarr", {"chunk_images": 1}, {"read_path": "chunks"}),
    "tensorstore": ("zarr", {"chunk_images": 1}, {"read_path": "tensorstore"}),
    "h5py-chunk": ("hdf5", {"chunk_images": 1}, {"read_path": "chunks", "rdcc_nbytes": 0}),
    "raw-chunk": ("hdf5", {"chunk_images": 1}, {"read_path": "decode"}),
}


def request_us(folder: Path, settings: Settings, gather_gbps: float, seed: int = 0) -> dict[str, list[float]]:
    """Microseconds per request of each read path (READ_PATH_LAYOUTS), one value per trial;
    ``gather_gbps``: the memory gather rate whose copy time is taken off. Within a trial every
    path reads the same batches, one path after another."""
    source = sources.load("synthetic", image_size=REQUEST_PX, limit=settings.request_images)
    copy_us = int(np.prod(source.image_shape)) / (gather_gbps * 1e9) * 1e6
    rng = np.random.default_rng(seed)
    per_batch = min(BATCH, len(source) // 2)
    costs = {name: [] for name in READ_PATH_LAYOUTS}
    with ExitStack() as stack:
        readers = {name: stack.enter_context(_open(folder, source, *layout))
                   for name, layout in READ_PATH_LAYOUTS.items()}
        for _ in range(settings.trials):
            batches = [2 * np.sort(rng.choice(len(source) // 2, per_batch, replace=False))
                       for _ in range(settings.request_batches)]
            for name, reader in readers.items():
                with Stopwatch() as watch:
                    for indices in batches:
                        reader.read(indices)
                per_request = watch.seconds / (len(batches) * per_batch) * 1e6
                costs[name].append(max(0.0, per_request - copy_us))
    return costs


def _open(folder: Path, source, fmt: str, write_options: dict, open_options: dict):
    """The read path's reader over ``source`` written in ``fmt`` (once per layout), read once whole."""
    stored = folder / f"{fmt}-{'-'.join(f'{k}{v}' for k, v in write_options.items()) or 'plain'}"
    if not stored.exists():
        formats.get(fmt).write(source, stored, progress=False, **write_options)
    reader = formats.get(fmt).open(stored, **open_options)
    reader.read(np.arange(0, len(source), 2))  # handles opened, pages and metadata cached
    return reader
