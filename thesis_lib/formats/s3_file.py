"""One S3 object as a read-only, seekable binary file (ranged GETs), for libraries that read a
file object: h5py's ``fileobj`` driver reads HDF5 over S3 through it.

Small reads (HDF5's object headers, B-tree nodes, heaps: tens to hundreds of bytes each) go
through an LRU of fixed blocks, so one GET serves many of them; a read's missing blocks are
fetched in one request per run of neighbouring blocks, concurrently. Reads of a block or more
(chunks, runs of images) skip the cache: HDF5 keeps decoded chunks in its own chunk cache, and
such a read is one GET of exactly its bytes. Written here rather than taken from fsspec:
``fsspec.caching.BlockCache`` fetches a read's missing blocks one request after another (a read
across 13 blocks costs 13 round trips), obstore's ``ReadableFile`` buffers a single window, and
h5py's page buffer works only for files written with HDF5's paged file-space strategy, which the
writer does not use (on its files, ``page_buf_size=1MiB`` left HDF5's reads unchanged: the same
12 reads of 8 to 544 bytes to open and read 20 images, tried here).

A response shorter than the bytes asked is an error: h5py fills what a read leaves short with
zeros, so a short read must never reach it.
"""
from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np

from ..core.errors import FormatError
from .runs import contiguous_runs

BLOCK_BYTES = 64 * 2**10
CACHED_BLOCKS = 256  # 16 MiB per open object


class S3File(io.RawIOBase):
    """Object ``name`` of :class:`.s3_objects.S3Objects` ``objects``, ``size`` bytes (checked
    against the bucket when the dataset was opened)."""

    def __init__(self, objects, name: str, size: int, block_bytes: int = BLOCK_BYTES,
                 cached_blocks: int = CACHED_BLOCKS):
        super().__init__()
        self.objects, self.name, self.size = objects, name, size
        self.block_bytes, self.cached_blocks = block_bytes, cached_blocks
        self.position = 0
        self.blocks: OrderedDict[int, memoryview] = OrderedDict()
        self.requests = 0  # GETs made, for tests and benchmarks

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(f"{self.objects.location.url(self.name)}: seek to {base + offset}, before the start")
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        out = memoryview(buffer).cast("B")
        start, stop = self.position, min(self.position + len(out), self.size)
        if stop <= start:
            return 0
        if stop - start >= self.block_bytes:
            out[:stop - start] = self._get([(start, stop)])[0]
        else:
            self._copy_cached(start, stop, out)
        self.position = stop
        return stop - start

    def _copy_cached(self, start: int, stop: int, out: memoryview) -> None:
        size = self.block_bytes
        wanted = range(start // size, (stop - 1) // size + 1)
        missing = [b for b in wanted if b not in self.blocks]
        if missing:
            runs = contiguous_runs(np.array(missing))
            ranges = [(first * size, min(end * size, self.size)) for first, end in runs]
            for (first, _), data in zip(runs, self._get(ranges)):
                for k in range(0, len(data), size):
                    self.blocks[first + k // size] = data[k:k + size]
        pos = 0
        for block in wanted:
            self.blocks.move_to_end(block)
            data = self.blocks[block]
            lo = max(start - block * size, 0)
            hi = min(stop - block * size, len(data))
            out[pos:pos + hi - lo] = data[lo:hi]
            pos += hi - lo
        while len(self.blocks) > self.cached_blocks:
            self.blocks.popitem(last=False)

    def _get(self, ranges: list[tuple[int, int]]) -> list[memoryview]:
        self.requests += len(ranges)
        got = self.objects.get_ranges(self.name, [lo for lo, _ in ranges], [hi for _, hi in ranges])
        for (lo, hi), data in zip(ranges, got):
            if len(data) != hi - lo:
                raise FormatError(f"{self.objects.location.url(self.name)}: asked for bytes {lo}..{hi}, got "
                                  f"{len(data)} (the object changed or the server cut the response)")
        return got
