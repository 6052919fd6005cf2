"""How each format's reader serves one batch in each access mode: which library calls it makes
(and through which read path, a ``request.*`` primitive), what it decodes (a ``decode.*``
primitive), what it copies in RAM, and what a cold cache makes it seek. Facts of the readers in
:mod:`thesis_lib.formats` and the modes in :mod:`thesis_lib.loading`, applied to a layout
(:mod:`.layout`); no measured number lives here."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..loading.options import block_window as mode_window
from ..loading.reads import threads_per_worker
from . import layout
from .layout import Touch
from .shape import RunShape

#: A codec's name in a format's options -> the decode primitive that measures it.
CODEC_DECODERS = {"gzip": "zlib", "zstd": "zstd", "blosc-lz4": "blosc-lz4", "blosc-zstd": "blosc-zstd", "lz4": "lz4",
                  "png": "png", "jpeg": "jpeg"}


#: The terms each read path holds under the GIL or its library's lock (any other path: its calls).
LOCKED = {"tensorstore": (), "memmap": (), None: (), "h5py-chunk": ("per-request", "decode", "memory")}


class NotModelledError(Exception):
    """A run the model does not represent; the message says why."""


@dataclass(frozen=True)
class ReadPlan:
    """One batch's reads: ``touch`` (library calls and what they decode), each call through
    ``request`` (a read path of the profile; None: no call of its own is measured), the stored
    units decoded with ``decoder`` (None: stored raw), read from ``source`` ("map": gathered from
    a memory map, "file": read through a file call, "ram": already in memory), then ``copies``
    more copies of the batch in RAM; ``seeks`` random storage accesses when the cache is cold;
    ``cached`` the share of units a library's own cache holds decoded; ``threads`` the library's
    own threads decoding in parallel; ``calls`` the calls into the read path per batch (one read
    of a whole batch, one per image in sample mode, one per run or window in block mode);
    ``files`` the files opened, read whole and closed per batch (one per image of the files
    format). ``locked``: the terms that hold the GIL or the library's own lock, which thread
    workers take in turns (zarr-python's calls are Python; h5py runs every HDF5 call, its filters
    included, under one lock; NumPy, TensorStore, zlib and PIL release the GIL)."""
    touch: Touch
    request: str | None
    decoder: str | None
    source: str
    copies: int = 0
    seeks: float = 0.0
    cached: float = 0.0
    threads: int = 1
    calls: float = 1.0
    files: float = 0.0

    @property
    def locked(self) -> tuple:
        return LOCKED.get(self.request, ("per-request",))


def decoder_for(codec: str) -> str | None:
    if codec == "none" or codec == "npy":
        return None
    if codec not in CODEC_DECODERS:
        raise NotModelledError(f"codec {codec!r}: no decode primitive measures it")
    return CODEC_DECODERS[codec]


def plan(shape: RunShape, cores: int) -> ReadPlan:
    """The read plan of ``shape`` on a machine of ``cores`` cores; NotModelledError naming why
    when the model has no term for it."""
    if shape.storage != "local":
        raise NotModelledError(f"storage {shape.storage!r}: no object-store latency primitive yet")
    if shape.mode == "resident" or shape.fmt == "ram":
        # the set is in memory (read once when the loader is made); each batch a gather
        return ReadPlan(Touch(1, shape.batch, 1, shape.batch), None, None, "ram")
    builder = _PLANS.get(shape.fmt)
    if builder is None:
        raise NotModelledError(_UNMODELLED.get(shape.fmt, f"format {shape.fmt!r}: no read plan"))
    return builder(shape, cores)


def _window(shape: RunShape, block: int, chunk: int) -> Touch:
    return layout.block_window(shape.n_images, shape.batch, block, mode_window(block, shape.batch), chunk)


def _rows(shape: RunShape, block: int) -> ReadPlan:
    """A contiguous array gathered from a memory map (npy, contiguous HDF5 read directly): one
    gather call per batch whatever the mode asks, except one per image in ``sample`` and one per
    block in ``stream``/``slice``; a cold read seeks once per run of consecutive rows."""
    n, b = shape.n_images, shape.batch
    if shape.mode == "sample":
        return ReadPlan(layout.one_at_a_time(b, 1), "memmap", None, "map", seeks=b, calls=b)
    if shape.mode == "stream":  # a shard of ``block`` images read at a time
        touch = layout.in_order(b, block)
        return ReadPlan(touch, "memmap", None, "map", seeks=touch.requests, calls=touch.requests)
    if shape.mode == "slice":  # loaderbench's plain read of a block-mode window's span
        span = mode_window(block, b) * block
        touch = layout.in_order(b, span)
        return ReadPlan(touch, "memmap", None, "map", seeks=touch.requests, calls=b / span)
    seeks = _window(shape, block, 1).requests if shape.mode == "block" else layout.expected_runs(n, b)
    return ReadPlan(_gathered(b), "memmap", None, "map", seeks=seeks)


def _gathered(batch: int) -> Touch:
    """A batch gathered from memory maps: the ``memmap`` request is one row of a gather."""
    return Touch(batch, batch, 1, batch)


def _chunks(shape: RunShape, chunk: int, request: str, decoder: str | None, *, shard: int = 0,
            cached: float = 0.0, threads: int = 1, source: str = "file") -> ReadPlan:
    """A chunked array: one library call per chunk touched (and per shard index), each chunk
    decoded whole; the batch gathered from the chunks' images once more (into the sampler's
    order, or out of block mode's window). Calls into the library: one per image in sample mode,
    one per run of the window in block mode (TensorStore: one per window), one per shard in
    stream mode, one per window's span in a slice, one per batch otherwise."""
    n, b = shape.n_images, shape.batch
    calls = 1.0
    if shape.mode == "sample":
        touch, calls = layout.one_at_a_time(b, chunk), b
    elif shape.mode == "block":
        touch = _window(shape, chunk, chunk)
        calls = b / (mode_window(chunk, b) * chunk) if request == "tensorstore" else touch.requests
    elif shape.mode in ("stream", "slice"):  # a stream's shard is a chunk here (loading/stream.py)
        touch = layout.in_order(b, chunk)
        calls = touch.requests if shape.mode == "stream" else b / (mode_window(chunk, b) * chunk)
    else:
        touch = layout.random_batch(n, b, chunk, shard)
    copies = 0 if shape.mode in ("stream", "slice") else 1
    if source == "map" and shape.mode not in ("stream", "slice"):  # rows gathered from each chunk's map,
        return ReadPlan(_gathered(b), request, decoder, source, seeks=touch.units,  # one gather per map
                        calls=b if shape.mode == "sample" else touch.units)
    return ReadPlan(touch, request, decoder, source, copies=copies, seeks=touch.units, cached=cached,
                    threads=threads, calls=calls)


def _hdf5(shape: RunShape, cores: int) -> ReadPlan:
    w, o = shape.write_options, shape.open_options
    chunk, path = int(w["chunk_images"]), o["read_path"]
    if not chunk:
        if path in ("auto", "direct"):
            return _rows(shape, int(o["block_size"]))
        if path == "index" and shape.mode == "batch":
            return ReadPlan(layout.one_at_a_time(shape.batch, 1), "h5py-chunk", None, "file", copies=1,
                            seeks=shape.batch)
        raise NotModelledError(f"hdf5 read_path {path!r}: no primitive for h5py's per-index selection")
    chunk = min(chunk, shape.n_images)
    decoder = decoder_for(w["compression"])
    if path == "decode":
        return _chunks(shape, chunk, "raw-chunk", decoder, threads=min(int(o["decode_threads"]), cores))
    if path == "direct":
        return _chunks(shape, chunk, "memmap", None, source="map")
    # h5py keeps decoded chunks in its chunk cache: a random chunk is there with the share of
    # chunks the cache holds (warm() filled it in order; LRU keeps a random subset after that)
    chunk_bytes = chunk * shape.image_bytes
    n_chunks = math.ceil(shape.n_images / chunk)
    cached = min(1.0, (int(o["rdcc_nbytes"]) // chunk_bytes) / n_chunks) if decoder else 0.0
    return _chunks(shape, chunk, "h5py-chunk", decoder, cached=cached)


def _zarr(shape: RunShape, cores: int) -> ReadPlan:
    w, o = shape.write_options, shape.open_options
    chunk, shard, path = min(int(w["chunk_images"]), shape.n_images), int(w["shard_images"]), o["read_path"]
    decoder = decoder_for(w["codec"])
    if path == "direct":
        return _chunks(shape, chunk, "memmap", None, source="map")
    if path == "tensorstore":
        pool = int(o["cache_bytes"])
        cached = min(1.0, pool / (shape.n_images * shape.image_bytes)) if pool else 0.0
        return _chunks(shape, chunk, "tensorstore", decoder, shard=shard, cached=cached,
                       threads=threads_per_worker(cores, shape.workers))
    request = {"oindex": "zarr-python-oindex", "chunks": "zarr-python-chunks"}[path]
    return _chunks(shape, chunk, request, decoder, shard=shard)


def _webdataset(shape: RunShape, cores: int) -> ReadPlan:
    """Tar shards memory-mapped: raw ``.npy`` members gathered row by row through a strided view
    of each shard; encoded members each sliced out and decoded."""
    shard, encoding = int(shape.write_options["shard_images"]), shape.write_options["encoding"]
    decoder = decoder_for(encoding)
    if decoder is None:
        return _chunks(shape, min(shard, shape.n_images), "memmap", None, source="map")
    return _per_image(shape, "memmap", decoder, opens=0)


def _per_image(shape: RunShape, request: str | None, decoder: str, opens: int = 1) -> ReadPlan:
    """One encoded image per stored object (a file of its own, ``opens``; a tar member, none),
    decoded on its own, whatever the mode."""
    b = shape.batch
    return ReadPlan(layout.one_at_a_time(b, 1), request, decoder, "file", seeks=b, files=opens * b)


def _files(shape: RunShape, cores: int) -> ReadPlan:
    if shape.open_options.get("decoder") == "nvjpeg":
        raise NotModelledError("files decoded by nvJPEG on the GPU: no GPU decode primitive")
    return _per_image(shape, None, decoder_for(shape.write_options["encoding"]))


def _imagefolder(shape: RunShape, cores: int) -> ReadPlan:
    # torchvision's ImageFolder over the original JPEG files, one image per __getitem__
    return _per_image(shape, None, "jpeg")


_PLANS = {"npy": lambda shape, cores: _rows(shape, int(shape.open_options["block_size"])),
          "hdf5": _hdf5, "zarr": _zarr, "webdataset": _webdataset, "files": _files, "imagefolder": _imagefolder}
_UNMODELLED = {
    "litdata": "litdata reads one sample at a time through StreamingDataset[i]: no primitive measures its per-sample cost",
    "cupy": "cupy reads to the GPU (KvikIO/GDS): no GPU read primitive",
}
