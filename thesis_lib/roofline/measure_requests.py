"""What one read request costs through each read path: a fixed part, a part per MiB of the chunk it
reads and decodes whole (for ``memmap``: per MiB of rows gathered from the map), and, for the
chunked paths, a part per image more that one request takes out of its chunk.

Three small datasets the project's own format writes into a scratch folder, uncompressed, warm
(written, then read once whole before timing):

- *fixed*: 8 px images (192 bytes), one image per chunk, so a request's bytes cost next to
  nothing; a batch reads up to 512 images at even positions (no two in one chunk or one run) in
  one call. The same images read one call each, less that, is the cost of a *call*;
- *per MiB*: 64 px images, :data:`BIG_CHUNK` images per chunk (3 MiB), one image from each
  chunk; its cost per request less the fixed one, over the chunk's MiB (``memmap``: 64 px rows,
  over a row's MiB);
- *per image*: 64 px images, :data:`CHUNK` images per chunk (the thesis's chunk), :data:`TAKEN`
  images from each against one from each; the cost per request beyond one image per chunk, over
  the ``TAKEN - 1`` more images.

The reads are the loader's: ``read_into`` a reused buffer for a memory map (a batch gathered from
the map, :class:`..loading.datasets.BatchDataset`), ``read`` for the chunked paths. A library
with threads of its own (TensorStore) is held to one, as in a worker on 2 cores; given both
cores, TensorStore read these batches no faster (its batch and block rows without workers were
predicted 3x too fast when the model divided its costs by its threads).
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .. import formats, sources
from .trials import BATCH, Settings, Stopwatch

FIXED_PX, PX, CHUNK, TAKEN = 8, 64, 64, 8
BIG_CHUNK = 256  # 3 MiB chunks: the per-MiB cost measured where the bytes outweigh the fixed cost
SINGLE_CALLS = 256  # calls of one image each, timed against the same images read in batches
MiB = 2**20
#: Each read path: the format, its write options (a chunk size apart) and its open options.
READ_PATH_LAYOUTS = {
    "memmap": ("npy", {}, {}),
    "zarr-python-oindex": ("zarr", {}, {}),
    "zarr-python-chunks": ("zarr", {}, {"read_path": "chunks"}),
    "tensorstore": ("zarr", {}, {"read_path": "tensorstore"}),
    "h5py-chunk": ("hdf5", {}, {"read_path": "chunks", "rdcc_nbytes": 0}),
    "raw-chunk": ("hdf5", {}, {"read_path": "decode"}),
}
CHUNKED = tuple(path for path in READ_PATH_LAYOUTS if path != "memmap")


def request_trials(folder: Path, settings: Settings, seed: int = 0) -> dict[str, list[float]]:
    """``request.<path>.fixed_us``, ``.us_per_mib`` and (chunked paths) ``.us_per_image``, one
    value per trial. Within a trial every path reads the same positions, one path after another."""
    rng = np.random.default_rng(seed)
    small = sources.load("synthetic", image_size=FIXED_PX, limit=settings.request_images)
    large = sources.load("synthetic", image_size=PX, limit=settings.request_chunks * CHUNK)
    big = max(1, settings.request_chunks * CHUNK // BIG_CHUNK)  # chunks of the per-MiB set: as many images
    values: dict[str, list[float]] = {}
    with ExitStack() as stack:
        fixed = {path: stack.enter_context(_open(folder, small, path, 1)) for path in READ_PATH_LAYOUTS}
        sized = {path: stack.enter_context(_open(folder, large, path, 1 if path == "memmap" else CHUNK))
                 for path in READ_PATH_LAYOUTS}
        bulky = {path: stack.enter_context(_open(folder, large, path, BIG_CHUNK)) for path in CHUNKED}
        for _ in range(settings.trials):
            evens = [2 * np.sort(rng.choice(len(small) // 2, min(BATCH, len(small) // 2), replace=False))
                     for _ in range(settings.request_batches)]
            rows = [np.sort(rng.choice(len(large), min(BATCH, len(large)), replace=False))
                    for _ in range(settings.request_batches)]
            ones, several = _positions(rng, settings, 1), _positions(rng, settings, TAKEN)
            spread = _positions(rng, settings, 1, BIG_CHUNK, big)
            singles = [np.array([i]) for i in evens[0][:SINGLE_CALLS]]
            for path in READ_PATH_LAYOUTS:
                base = _us_per_request(fixed[path], evens, 1)
                values.setdefault(f"request.{path}.fixed_us", []).append(base)
                values.setdefault(f"request.{path}.call_us", []).append(
                    max(0.0, _us_per_request(fixed[path], singles, 1) - base))
                if path == "memmap":
                    per_row = _us_per_request(sized[path], rows, 1)
                    values.setdefault(f"request.{path}.us_per_mib", []).append(
                        max(0.0, per_row - base) / (PX * PX * 3 / MiB))
                    continue
                whole = _us_per_request(bulky[path], spread, 1)
                values.setdefault(f"request.{path}.us_per_mib", []).append(
                    max(0.0, whole - base) / (BIG_CHUNK * PX * PX * 3 / MiB))
                one = _us_per_request(sized[path], ones, 1)
                more = _us_per_request(sized[path], several, TAKEN)
                values.setdefault(f"request.{path}.us_per_image", []).append(max(0.0, more - one) / (TAKEN - 1))
    return values


def file_read_trials(folder: Path, settings: Settings, seed: int = 0) -> list[float]:
    """``file.read_us``: microseconds to open, read and close one small file (192 B) of a warm
    folder of ``settings.request_images`` of them, as the files format reads an image's file; one
    value per trial of up to 512 random files."""
    from ..core.paths import read_regular_file
    files = folder / "small-files"
    files.mkdir(exist_ok=True)
    paths = [files / f"{i:05d}.bin" for i in range(settings.request_images)]
    for path in paths:
        path.write_bytes(bytes(FIXED_PX * FIXED_PX * 3))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(settings.trials):
        chosen = [paths[i] for i in rng.choice(len(paths), min(BATCH, len(paths)), replace=False)]
        with Stopwatch() as watch:
            for path in chosen:
                read_regular_file(path)
        values.append(watch.seconds / len(chosen) * 1e6)
    return values


def _positions(rng: np.random.Generator, settings: Settings, taken: int, chunk: int = CHUNK,
               chunks: int | None = None) -> list[np.ndarray]:
    """Batches of ``taken`` distinct images from each of ``chunks`` chunks of ``chunk`` images, sorted."""
    chunks = settings.request_chunks if chunks is None else chunks
    return [np.sort(np.concatenate([k * chunk + rng.choice(chunk, taken, replace=False) for k in range(chunks)]))
            for _ in range(settings.request_batches)]


def _us_per_request(reader, batches: list[np.ndarray], per_request: int) -> float:
    """Microseconds per request over ``batches`` (each request ``per_request`` of a batch's images)."""
    out = np.empty((max(len(b) for b in batches), *reader.image_shape), np.uint8)
    gather = getattr(reader, "gathers_any_order", False)
    with Stopwatch() as watch:
        for indices in batches:
            if gather:
                reader.read_into(indices, out[:len(indices)])
            else:
                reader.read(indices)
    return watch.seconds / sum(len(b) // per_request for b in batches) * 1e6


def _open(folder: Path, source, path: str, chunk: int):
    """The read path's reader over ``source`` written with ``chunk`` images per chunk (once), read once whole."""
    fmt, write_options, open_options = READ_PATH_LAYOUTS[path]
    write_options = dict(write_options, **({} if fmt == "npy" else {"chunk_images": chunk}))
    px = source.image_shape[0]
    stored = folder / f"{fmt}-{px}px-{len(source)}-{'-'.join(f'{k}{v}' for k, v in write_options.items()) or 'plain'}"
    if not stored.exists():
        formats.get(fmt).write(source, stored, progress=False, **write_options)
    reader = formats.get(fmt).open(stored, **open_options)
    reader.limit_threads(1)
    reader.read(np.arange(len(source)))  # handles opened, pages and metadata cached
    return reader
