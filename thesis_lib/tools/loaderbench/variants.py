"""What loaderbench measures: every format, at its best and in the ways people usually read it, as
one table of variants."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ... import loading

MiB = 2**20
ALL_MODES = tuple(loading.MODES)


@dataclass(frozen=True)
class Variant:
    """A partial run spec: one format written and opened one way, measured in each of ``modes``
    (with 0 workers and with the command's workers of each kind, process and thread; ``resident``
    with 0 only), and in ``one_thread_modes`` with one thread worker as well (the base of a
    thread-scaling target)."""
    label: str
    fmt: str
    modes: tuple[str, ...]
    write_options: Mapping[str, object] = field(default_factory=dict)
    open_options: Mapping[str, object] = field(default_factory=dict)
    one_thread_modes: tuple[str, ...] = ()


HDF5_GZIP = {"chunk_images": 64, "compression": "gzip"}
# zarr layouts, each read by zarr-python and by TensorStore: the format and the library apart
ZARR_LAYOUTS = (
    Variant("zarr chunk 64", "zarr", ("sample", "batch", "block")),
    Variant("zarr chunk 16", "zarr", ("batch", "block"), {"chunk_images": 16}),
    Variant("zarr chunk 256", "zarr", ("batch", "block"), {"chunk_images": 256}),
    Variant("zarr chunk 1024", "zarr", ("batch", "block"), {"chunk_images": 1024}),
    Variant("zarr chunk 16, shard 1024", "zarr", ("batch", "block"), {"chunk_images": 16, "shard_images": 1024}),
    Variant("zarr chunk 64 zstd", "zarr", ("batch", "block"), {"codec": "zstd"}),
)
ZARR_READERS = {"zarr-python": {}, "tensorstore": {"read_path": "tensorstore"}}
# One codec in both containers at chunk 64 and one level (formats/codecs.py): with hdf5's gzip and
# zarr's zstd above, each of gzip (level 4, hdf5's default), zstd and Blosc (level 3, zarr's) and
# lz4 (no level) is measured in both.
SHARED_CODECS = ("blosc-lz4", "blosc-zstd", "lz4")
CODEC_VARIANTS = (
    *[Variant(f"hdf5 chunk 64 {codec}, h5py per-chunk", "hdf5", ("batch", "block"),
              {"chunk_images": 64, "compression": codec, **({} if codec == "lz4" else {"compression_level": 3})})
      for codec in ("zstd", *SHARED_CODECS)],
    *[Variant(f"zarr chunk 64 {codec}, {library}", "zarr", ("batch", "block"),
              {"codec": codec, **({"level": 4} if codec == "gzip" else {})}, read)
      for codec in ("gzip", *SHARED_CODECS) for library, read in ZARR_READERS.items()
      if not (codec == "lz4" and library == "tensorstore")],  # TensorStore cannot decode numcodecs' LZ4
)

VARIANTS = (
    Variant("npy", "npy", ALL_MODES),
    Variant("hdf5 contiguous, direct", "hdf5", ALL_MODES),
    Variant("hdf5 contiguous, h5py per-index", "hdf5", ("batch",), open_options={"read_path": "index"}),
    Variant("hdf5 contiguous, h5py fancy", "hdf5", ("batch",), open_options={"read_path": "fancy"}),
    Variant("hdf5 chunk 64 gzip, h5py per-chunk, 16 MiB cache", "hdf5", ("batch", "block"), HDF5_GZIP),
    Variant("hdf5 chunk 64 gzip, h5py per-chunk, 256 MiB cache", "hdf5", ("batch",), HDF5_GZIP,
            {"rdcc_nbytes": 256 * MiB}),
    Variant("hdf5 chunk 64 gzip, raw chunk + zlib", "hdf5", ("batch", "block"), HDF5_GZIP, {"read_path": "decode"}),
    Variant("hdf5 chunk 64 gzip, raw chunk + zlib, 2 threads", "hdf5", ("batch",), HDF5_GZIP,
            {"read_path": "decode", "decode_threads": 2}),
    *[replace(layout, label=f"{layout.label}, {library}", open_options=read)
      for layout in ZARR_LAYOUTS for library, read in ZARR_READERS.items()],
    Variant("zarr chunk 64, direct", "zarr", ("batch", "block"), open_options={"read_path": "direct"}),
    Variant("zarr chunk 1024, direct", "zarr", ("batch", "block"), {"chunk_images": 1024},
            {"read_path": "direct"}),
    Variant("zarr chunk 64, zarr-python, resident", "zarr", ("resident",)),
    Variant("zarr chunk 64, zarr-python chunk runs", "zarr", ("batch",), open_options={"read_path": "chunks"}),
    Variant("zarr chunk 64, zarr-python concurrency 1", "zarr", ("batch",), open_options={"concurrency": 1}),
    Variant("zarr chunk 64, tensorstore, 256 MiB cache", "zarr", ("batch",),
            open_options={"read_path": "tensorstore", "cache_bytes": 256 * MiB}),
    *CODEC_VARIANTS,
    Variant("webdataset npy, shard 1000", "webdataset", ALL_MODES),
    Variant("webdataset png, shard 1000", "webdataset", ("batch", "stream"), {"encoding": "png"}),
    Variant("litdata, 64 MB chunks", "litdata", ("batch", "block", "stream")),
    Variant("files png, PIL", "files", ALL_MODES),
    Variant("files png, torchvision.io", "files", ("batch",), open_options={"decoder": "torchvision"},
            one_thread_modes=("batch",)),
)
#: The variant whose reader gives the single-core PNG decode rate.
PNG_DECODE_VARIANT = "files png, PIL"


def named(label: str) -> Variant:
    """The variant labelled ``label``."""
    return next(variant for variant in VARIANTS if variant.label == label)


def matching(only: list[str] | None) -> list[Variant]:
    """The variants whose label contains one of the words ``only`` (every variant when None or
    empty); ValueError naming every label when none does."""
    chosen = [v for v in VARIANTS if not only or any(word in v.label for word in only)]
    if not chosen:
        raise ValueError(f"loaderbench: no variant matches {only}; variants: {', '.join(v.label for v in VARIANTS)}")
    return chosen
