"""HDF5 chunks read raw and decompressed outside the library: the ``decode`` read path.

``dset.id.read_direct_chunk`` returns a chunk's stored bytes without HDF5's filter pipeline;
zlib then inflates them. Timing the two apart says which of HDF5's limits is the library (chunk
lookup and read) and which the codec, and inflating outside HDF5's global lock lets several
threads decode at once (``decode_threads``).

Only what this path can check is accepted: unfiltered or gzip chunks. Shuffle, LZF and the
Fletcher-32 checksum are refused at open (skipping a checksum would drop a guarantee).
"""
from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from ..core.errors import FormatError

#: Bit 0 of a chunk's filter mask: HDF5 stored it without the (optional) deflate filter, which
#: happens when compressing would have made the chunk larger.
DEFLATE_SKIPPED = 1


def check_decodable(file: Path, dset: h5py.Dataset, n: int) -> None:
    """ValueError when ``dset`` uses a filter this path does not decode; FormatError when chunks
    are missing (a missing chunk would read as the fill value)."""
    if not dset.chunks:
        raise ValueError(f"hdf5: read_path 'decode' needs chunked data; {file} is contiguous")
    if dset.compression not in (None, "gzip") or dset.shuffle or dset.fletcher32:
        raise ValueError(f"hdf5: read_path 'decode' handles gzip or unfiltered chunks; {file} uses "
                         f"compression={dset.compression} shuffle={dset.shuffle} fletcher32={dset.fletcher32}")
    expected = -(-n // dset.chunks[0])
    if dset.id.get_num_chunks() != expected:
        raise FormatError(f"{file}: {dset.id.get_num_chunks()} chunks stored, expected {expected} (chunks missing)")


class ChunkDecoder:
    """Whole chunks of one dataset as uint8 arrays, read raw and inflated by zlib."""

    def __init__(self, file: Path, dset: h5py.Dataset, threads: int):
        self.file, self.dset = file, dset
        self.chunk_shape = dset.chunks
        self.gzip = dset.compression == "gzip"
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="hdf5-decode") if threads > 1 else None

    def chunk(self, c: int) -> np.ndarray:
        """Chunk ``c`` (images ``c * chunk .. (c + 1) * chunk - 1``, the last chunk padded)."""
        offset = (c * self.chunk_shape[0],) + (0,) * (len(self.chunk_shape) - 1)
        try:
            mask, raw = self.dset.id.read_direct_chunk(offset)
        except (OSError, KeyError, ValueError) as exc:
            raise FormatError(f"{self.file}: chunk {c} unreadable ({exc})") from None
        if self.gzip and not mask & DEFLATE_SKIPPED:
            try:
                raw = zlib.decompress(raw)
            except zlib.error as exc:
                raise FormatError(f"{self.file}: chunk {c} does not inflate ({exc})") from None
        if len(raw) != int(np.prod(self.chunk_shape)):
            raise FormatError(f"{self.file}: chunk {c} holds {len(raw)} bytes, expected {int(np.prod(self.chunk_shape))}")
        return np.frombuffer(raw, np.uint8).reshape(self.chunk_shape)

    def chunks(self, ids) -> dict[int, np.ndarray]:
        """Several chunks, decoded in parallel when there are threads (zlib releases the GIL)."""
        ids = [int(c) for c in ids]
        decoded = self.pool.map(self.chunk, ids) if self.pool else map(self.chunk, ids)
        return dict(zip(ids, decoded))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
