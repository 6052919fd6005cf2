"""Zarr's ``direct`` read path: uncompressed, unsharded chunk files read without a library, in one
copy, as HDF5's ``direct`` path reads its raw data.

An uncompressed, unsharded zarr v3 chunk of ``uint8`` images is its images' bytes, in C order,
and nothing else: a block-mode window is read from the page cache straight into the window's rows
(``os.preadv``), a random batch gathered from the chunk files' memory maps. TensorStore copies
twice (page cache -> chunk -> window: 56% of a zarr block read was that copy, issue 22).
The chunk files' presence and exact sizes are checked at open (:func:`.zarr_format.check_stored_objects`)
as for every read path; a layout with a codec, a checksum or shards is refused here, naming it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from zarr.codecs import BytesCodec

from .runs import run_bounds


def check_plain_chunks(folder: Path, array) -> None:
    """ValueError unless every chunk of ``array`` is stored as its raw bytes: one codec (bytes),
    no compressor, no checksum, no shards."""
    codecs = array.metadata.codecs
    if array.shards or len(codecs) != 1 or not isinstance(codecs[0], BytesCodec):
        names = ", ".join(type(c).__name__ for c in codecs)
        raise ValueError(f"zarr: read_path 'direct' reads uncompressed, unsharded chunks without a checksum; "
                         f"{folder} is stored with {names}" + (f" in shards of {array.shards[0]}" if array.shards else ""))


class ChunkFiles:
    """The chunk files of one images array: ``per_chunk`` images each, read straight into a
    caller's rows or gathered from their memory maps."""

    def __init__(self, folder: Path, array, n: int, image_shape: tuple[int, ...]):
        self.n, self.image_shape = n, tuple(image_shape)
        self.per_chunk = int(array.chunks[0])
        self.image_bytes = math.prod(self.image_shape)
        chunks = -(-n // self.per_chunk)
        self.files = [folder / array.metadata.encode_chunk_key((c, *(0,) * len(self.image_shape)))
                      for c in range(chunks)]
        self.maps: dict[int, np.ndarray] = {}
        self.fds: dict[int, int] = {}

    def _fd(self, c: int) -> int:
        if c not in self.fds:  # two threads may both open it: the one not kept is closed
            fd = os.open(self.files[c], os.O_RDONLY)
            if self.fds.setdefault(c, fd) != fd:
                os.close(fd)
        return self.fds[c]

    def _map(self, c: int) -> np.ndarray:
        if c not in self.maps:
            self.maps.setdefault(c, np.memmap(self.files[c], dtype=np.uint8, mode="r").reshape(-1, *self.image_shape))
        return self.maps[c]

    def read_ranges_into(self, ranges, out: np.ndarray) -> None:
        """Images of each ``(start, stop)``, one range after another, into the rows of ``out``."""
        pos = 0
        for start, stop in ranges:
            image = start
            while image < stop:
                c = image // self.per_chunk
                last = min(stop, (c + 1) * self.per_chunk)
                rows = out[pos:pos + last - image]
                offset = (image - c * self.per_chunk) * self.image_bytes
                want = rows.nbytes
                got = os.preadv(self._fd(c), [memoryview(rows).cast("B")], offset)
                if got != want:
                    raise OSError(f"{self.files[c]}: read {got} of {want} bytes at {offset} (truncated)")
                pos, image = pos + last - image, last

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """Images at sorted ``indices``, one gather per chunk touched."""
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        chunk_ids = indices // self.per_chunk
        for lo, hi in run_bounds(chunk_ids, step=0):
            c = int(chunk_ids[lo])
            np.take(self._map(c), indices[lo:hi] - c * self.per_chunk, axis=0, out=out[lo:hi])
        return out

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        self.maps.clear()
