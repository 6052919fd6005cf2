"""Zarr v3 (zarr-python >= 3): a group holding ``images`` (N, H, W, 3) chunked along N and ``labels``.

Options: images per chunk, images per shard (0 = no sharding; a shard packs many chunks into one
file, which matters on filesystems that dislike many small files), codec (none, zstd, blosc, and
the codecs HDF5 shares: gzip, blosc-lz4, blosc-zstd, lz4; see :mod:`.codecs`), a CRC32C checksum
per chunk, and zarr's async concurrency.

Reads: a random batch is one sorted orthogonal selection (``oindex``), which zarr turns into one
concurrent fetch of every chunk touched; a contiguous block is a plain slice. The open option
``read_path="tensorstore"`` reads the same files with TensorStore's compiled zarr3 driver instead
(:mod:`.zarr_tensorstore`), its chunk cache sized by ``cache_bytes``. Missing chunks are
the dangerous case: zarr silently returns the fill value for them, so chunks are always written
(``write_empty_chunks``) and opening a reader runs :func:`check_stored_objects` on every array,
before any read path touches it.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import zarr
import zarr.codecs
from zarr.buffer.cpu import NDBuffer
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec

from ..core.errors import FormatError
from .base import Format
from .codecs import LEVELS, ZARR_CODECS, check_level, zarr_compressors
from .options import Option
from .reader import Reader
from .runs import run_bounds
from .writing import aligned, naming
from .zarr_direct import ChunkFiles, check_plain_chunks

READ_PATHS = ("oindex", "chunks", "tensorstore", "direct")
CONCURRENCY = 64
SHARD_INDEX_ENTRY = 16  # bytes per inner chunk in a shard index: offset and length, uint64 each
CRC32C = 4  # bytes a Crc32cCodec appends


def check_stored_objects(folder: Path, array) -> None:
    """FormatError unless every chunk (or shard) object of ``array`` is stored under its exact key
    in ``folder`` with a size it can have: exactly the encoded size when nothing compresses, else
    at least a shard's index plus a byte per chunk. Zarr would read a missing object as zeros; an
    empty or stray file under another name must not pass for it."""
    sharding = next((c for c in array.metadata.codecs if isinstance(c, ShardingCodec)), None)
    outer = array.shards or array.chunks
    codecs = sharding.codecs if sharding else array.metadata.codecs
    checksums = sum(isinstance(c, Crc32cCodec) for c in codecs)
    uncompressed = all(isinstance(c, (BytesCodec, Crc32cCodec)) for c in codecs)
    chunk_size = math.prod(array.chunks) * array.dtype.itemsize + CRC32C * checksums if uncompressed else 1
    index_size = 0
    if sharding:
        index_size = (math.prod(o // c for o, c in zip(outer, array.chunks)) * SHARD_INDEX_ENTRY
                      + CRC32C * sum(isinstance(c, Crc32cCodec) for c in sharding.index_codecs))
    grid = [range(-(-extent // unit)) for extent, unit in zip(array.shape, outer)]
    for coords in itertools.product(*grid):
        file = folder / array.metadata.encode_chunk_key(coords)
        need = index_size + _chunks_inside(coords, outer, array.chunks, array.shape) * chunk_size
        size = file.stat().st_size if file.is_file() else None
        if size is None:
            raise FormatError(f"{file}: missing (zarr would silently read it as zeros)")
        if size < need or (uncompressed and size != need):
            expected = f"{need}" if uncompressed else f"at least {need}"
            raise FormatError(f"{file}: {size} bytes, expected {expected} (truncated or damaged)")


def _chunks_inside(coords, outer, inner, shape) -> int:
    """The chunks of shape ``inner`` that the object (a shard, or a chunk itself) at grid position
    ``coords`` stores: those that overlap the array (zarr writes no chunk wholly past its end)."""
    return math.prod(-(-(min((k + 1) * o, extent) - k * o) // c)
                     for k, o, c, extent in zip(coords, outer, inner, shape))


class ZarrReader(Reader):
    def __init__(self, path, manifest, *, read_path: str = "oindex", concurrency: int = CONCURRENCY):
        super().__init__(path, manifest)
        self.read_path = read_path
        self.concurrency = concurrency  # resolved in Format.open: 0, which hangs zarr, is refused there
        images = self.images
        if images.shape != (self.n, *self.image_shape) or images.dtype != np.uint8:
            raise FormatError(f"{path}/images: array is {images.dtype} {images.shape}, "
                              f"expected uint8 {(self.n, *self.image_shape)}")
        self.chunk_images = int(images.chunks[0])
        self.block_size = self.chunk_images
        for name in ("images", "labels"):
            self._check_stored(name)
        if read_path == "direct":
            check_plain_chunks(self.path / "images", images)

    def _check_stored(self, name: str) -> None:
        check_stored_objects(self.path / name, self._array(name))

    def _open_group(self):
        zarr.config.set({"async.concurrency": self.concurrency})
        try:
            return zarr.open_group(str(self.path), mode="r")
        except Exception as exc:  # zarr raises many types for damaged metadata
            raise FormatError(f"{self.path}: not a readable zarr group ({type(exc).__name__}: {exc})") from None

    def _array(self, name: str):
        group = self.handles.get("group", self._open_group)
        try:
            return group[name]
        except Exception as exc:
            raise FormatError(f"{self.path}/{name}: zarr array unreadable ({type(exc).__name__}: {exc})") from None

    @property
    def images(self):
        return self._array("images")

    def _load_labels(self):
        return self._guarded("labels", lambda: self._array("labels")[:])

    def _guarded(self, what: str, read):
        try:
            return read()
        except FormatError:
            raise
        except Exception as exc:  # a corrupt chunk surfaces as a codec or size error
            raise FormatError(f"{self.path}/{what}: chunk data unreadable ({type(exc).__name__}: {exc})") from None

    @property
    def chunk_files(self) -> ChunkFiles:
        """(``read_path="direct"``) the images' chunk files, opened in this process."""
        return self.handles.get("chunk files", lambda: ChunkFiles(self.path / "images", self.images, self.n,
                                                                   self.image_shape))

    def _read_sorted(self, indices):
        if self.read_path == "direct":
            return self._guarded("images", lambda: self.chunk_files.gather(indices))
        images = self.images
        if self.read_path == "oindex":
            return self._guarded("images", lambda: images.oindex[indices])
        return self._guarded("images", lambda: self._gather_chunk_runs(images, indices))

    def _gather_chunk_runs(self, images, indices):
        """Read each run of consecutive touched chunks as one slice, then pick the images."""
        per_chunk = self.chunk_images
        chunk_ids = np.unique(indices // per_chunk)
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        for a, b in run_bounds(chunk_ids):
            first, last = chunk_ids[a] * per_chunk, min((chunk_ids[b - 1] + 1) * per_chunk, self.n)
            lo, hi = np.searchsorted(indices, [first, last])
            out[lo:hi] = images[first:last][indices[lo:hi] - first]
        return out

    def _read_range(self, start, stop):
        if self.read_path == "direct":
            out = np.empty((stop - start, *self.image_shape), np.uint8)
            self._read_ranges_into([(start, stop)], out)
            return out
        images = self.images
        return self._guarded("images", lambda: images[start:stop])

    def _read_ranges_into(self, ranges, out):
        """Each range decoded by zarr straight into its rows of ``out`` (no intermediate array), or
        with ``read_path="direct"`` read from the chunk files into them."""
        if self.read_path == "direct":
            return self._guarded("images", lambda: self.chunk_files.read_ranges_into(ranges, out))
        images, pos = self.images, 0
        for start, stop in ranges:
            rows = NDBuffer.from_numpy_array(out[pos:pos + stop - start])
            self._guarded("images", lambda: images.get_basic_selection(slice(start, stop), out=rows))
            pos += stop - start


class ZarrFormat(Format):
    name = "zarr"
    write_spec = {
        "chunk_images": Option(64, "int", "images per chunk along N", minimum=1, maximum=2**31),
        "shard_images": Option(0, "int", "images per shard file (a multiple of chunk_images); 0 = no sharding",
                               minimum=0, maximum=2**31),
        "codec": Option("none", "choice", "the chunks' compressor", choices=ZARR_CODECS),
        "level": Option(3, "int", "compression level for zstd/gzip/blosc (lz4: none)", minimum=LEVELS["zstd"][0],
                        maximum=LEVELS["zstd"][1]),
        "checksum": Option(False, "bool", "CRC32C per chunk"),
    }
    open_spec = {
        "read_path": Option("oindex", "choice", "oindex or chunks (zarr-python), tensorstore, or direct (uncompressed, "
                            "unsharded chunk files read in one copy)", choices=READ_PATHS),
        "concurrency": Option(CONCURRENCY, "int", "zarr-python's async.concurrency while reading", minimum=1,
                              maximum=2**16),
        "cache_bytes": Option(0, "bytes", "TensorStore's chunk cache pool (read_path=tensorstore); 0 = none",
                              minimum=0, maximum=2**40),
    }
    reader = ZarrReader

    def validate_options(self, o):
        check_level("zarr", "level", o["codec"], o["level"])
        if o["shard_images"] % o["chunk_images"]:
            raise ValueError(f"format 'zarr': option shard_images={o['shard_images']} must be 0 or a "
                             f"multiple of chunk_images={o['chunk_images']}")

    def validate_open_options(self, o):
        if o["cache_bytes"] and o["read_path"] != "tensorstore":
            raise ValueError(f"format 'zarr': option cache_bytes sizes TensorStore's cache; it needs "
                             f"read_path='tensorstore', not {o['read_path']!r}")

    def _open(self, path, manifest, *, read_path, cache_bytes, **options):
        if read_path == "tensorstore":
            from .zarr_tensorstore import TensorStoreZarrReader
            return TensorStoreZarrReader(path, manifest, read_path=read_path, cache_bytes=cache_bytes, **options)
        return ZarrReader(path, manifest, read_path=read_path, **options)

    def _write(self, chunks, tmp, source, options):
        n, shape = len(source), tuple(source.image_shape)
        chunk = min(options["chunk_images"], n)
        shard = min(options["shard_images"], -(-n // chunk) * chunk) if options["shard_images"] else 0
        compressors = zarr_compressors(options["codec"], options["level"])
        if options["checksum"]:
            compressors.append(zarr.codecs.Crc32cCodec())
        group = zarr.open_group(str(tmp), mode="a")  # "w" would empty the fresh folder, publish's marker too
        images = group.create_array(
            "images", shape=(n, *shape), dtype=np.uint8, chunks=(chunk, *shape),
            shards=(shard, *shape) if shard else None, compressors=compressors or None,
            fill_value=0, config={"write_empty_chunks": True})
        pos = 0
        with naming(tmp / "images"):  # zarr's failed chunk writes name no file
            for piece, _ in aligned(chunks, shard or chunk):
                images[pos:pos + len(piece)] = piece
                pos += len(piece)
        group.create_array("labels", data=chunks.labels, chunks=(max(n, 1),), config={"write_empty_chunks": True},
                           compressors=[zarr.codecs.Crc32cCodec()] if options["checksum"] else None)
        return {}


FORMAT = ZarrFormat()
