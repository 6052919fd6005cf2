"""NumPy ``.npy`` files read through a memory map: the page cache is the only buffer.

``images.npy`` is written by appending chunks after its header; a batch read sorts its
indices (done by :meth:`Reader.read`) and gathers, which the kernel turns into page-cache copies.
"""
from __future__ import annotations

import io
from pathlib import Path
from tokenize import TokenError

import numpy as np

from ..core.errors import FormatError
from .base import Format
from .options import BLOCK_SIZE
from .reader import Reader
from .writing import write_arrays


def open_npy(file: Path, *, dtype, shape_tail: tuple, n: int | None = None) -> np.ndarray:
    """Memory-map ``file`` read-only, checking dtype, trailing shape and length; FormatError if not."""
    if not file.is_file():
        raise FormatError(f"{file}: missing")
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TokenError) as exc:  # a damaged header or payload
        raise FormatError(f"{file}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if array.dtype != np.dtype(dtype) or tuple(array.shape[1:]) != tuple(shape_tail):
        raise FormatError(
            f"{file}: expected {np.dtype(dtype)} (N, {', '.join(map(str, shape_tail))}) "
            f"but found {array.dtype} {array.shape}")
    if n is not None and len(array) != n:
        raise FormatError(f"{file}: holds {len(array)} items but the manifest says {n}")
    return array


def npy_header(dtype, shape: tuple) -> bytes:
    """The ``.npy`` header of a C-order array of ``dtype`` and ``shape``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    return header.getvalue()


def save_npy(file: Path, array: np.ndarray) -> None:
    """``np.save``, but a full disk raises ENOSPC naming ``file`` (``np.save`` writes through
    ``tofile``, which says only "N requested and M written")."""
    write_arrays(file, [array], npy_header(array.dtype, array.shape))


class NpyReader(Reader):
    gathers_any_order = True

    def __init__(self, path, manifest, *, block_size: int = 512):
        super().__init__(path, manifest)
        self.block_size = block_size
        self.images  # map once at open so a truncated or mismatched file fails here

    def _load_labels(self):
        return open_npy(self.path / "labels.npy", dtype=np.int64, shape_tail=(), n=self.n)

    @property
    def images(self) -> np.ndarray:
        return self.handles.get("images", lambda: open_npy(self.path / "images.npy", dtype=np.uint8,
                                                           shape_tail=self.image_shape, n=self.n))

    def _read_sorted(self, indices):
        return self.images[indices]

    def _read_into(self, indices, out):
        np.take(self.images, indices, axis=0, out=out)

    def _read_range(self, start, stop):
        return np.array(self.images[start:stop])


class NpyFormat(Format):
    name = "npy"
    open_spec = {"block_size": BLOCK_SIZE}
    reader = NpyReader

    def _write(self, chunks, tmp, source, options):
        # Plain appends after the .npy header: writing through a memmap would leave every written
        # page mapped (and counted in RSS) until the end, so memory would grow with the dataset.
        write_arrays(tmp / "images.npy", (chunk for chunk, _ in chunks),
                     npy_header(np.uint8, (len(source), *source.image_shape)))
        save_npy(tmp / "labels.npy", chunks.labels)
        return {}


FORMAT = NpyFormat()
