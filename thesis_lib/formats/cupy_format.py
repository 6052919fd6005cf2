"""GPU-side loading: raw image bytes read straight into GPU memory as CuPy arrays.

On disk: ``images.u8``, the uint8 (N, H, W, 3) array as raw C-order bytes starting at offset 0
(4 KiB-aligned, as GPUDirect Storage wants), and ``labels.npy``. Writing needs no GPU.

Reading needs CUDA. With KvikIO installed, bytes go from the file into device memory through
cuFile (GPUDirect Storage where the driver and filesystem support it, its POSIX compatibility
mode elsewhere); without it, NumPy reads into host memory and CuPy uploads. ``resident=True``
loads the whole set onto the GPU at open, after which a batch is a device-side gather.
Batches come back as CuPy arrays; :meth:`CupyReader.read_torch` hands them to torch by DLPack
without a copy.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import FormatError
from .base import Format
from .npy import open_npy, save_npy
from .options import BLOCK_SIZE, Option
from .reader import Reader
from .runs import run_bounds
from .writing import write_arrays

IMAGES = "images.u8"
RESIDENT_PIECE_BYTES = 256 * 2**20


def cuda_modules():
    """``(cupy, kvikio or None, why KvikIO did not import or None)``; FormatError when no CUDA GPU is usable."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device visible")
    except Exception as exc:  # ImportError, CUDARuntimeError, missing driver libraries
        raise FormatError(f"the cupy format needs a CUDA GPU with CuPy installed ({type(exc).__name__}: {exc}); "
                          "install the [gpu] extra on a CUDA machine") from None
    try:
        import kvikio
    except Exception as exc:  # noqa: BLE001 - missing, or present but its libraries (libcufile) not found
        return cupy, None, f"{type(exc).__name__}: {exc}"
    return cupy, kvikio, None


def pread_all(cufile, pieces, path) -> None:
    """Read ``pieces``, each ``(device buffer, size, file offset)``, by KvikIO's parallel
    ``cufile.pread``; wait for every read to end, then raise the first exception (submitting or
    reading), or else FormatError for the first short read.

    Nothing is raised while a read may still run: it writes into the output array, whose memory
    goes back to CuPy's pool (and on to the next array) once the caller drops it.
    """
    reads, error, short = [], None, None
    try:
        for buffer, size, offset in pieces:
            reads.append((cufile.pread(buffer, size, offset), size, offset))
    except BaseException as exc:  # noqa: BLE001 - raised below, once the reads submitted have ended
        error = exc
    for future, size, offset in reads:
        try:
            done = future.get()
        except BaseException as exc:  # noqa: BLE001 - likewise
            error = error or exc
        else:
            if done != size and short is None:
                short = f"{path}: short read at byte {offset} ({done} of {size} bytes)"
    if error is not None:
        raise error
    if short is not None:
        raise FormatError(short)


class CupyReader(Reader):
    on_device = True

    def __init__(self, path, manifest, *, resident: bool = False, use_kvikio: bool | None = None,
                 block_size: int = 512):
        super().__init__(path, manifest)
        self.cp, kvikio, why_not = cuda_modules()
        if use_kvikio and kvikio is None:
            raise FormatError(f"cupy: use_kvikio=True but KvikIO could not be imported: {why_not} "
                              "(pip install kvikio-cu12 or kvikio-cu13, matching CUDA)")
        self.kvikio = kvikio if use_kvikio is not False else None
        self.file_path = path / IMAGES
        self.image_bytes = int(np.prod(self.image_shape))
        expected = self.n * self.image_bytes
        size = self.file_path.stat().st_size if self.file_path.is_file() else None
        if size != expected:
            raise FormatError(f"{self.file_path}: {size} bytes, expected {expected} "
                              f"({self.n} images of {self.image_shape})")
        self.block_size = block_size
        self.resident = None
        if resident:
            self.resident = self._read_bytes(0, self.n)
            self.gathers_any_order = True  # a device gather: sorting a batch would only add one

    def _load_labels(self):
        return open_npy(self.path / "labels.npy", dtype=np.int64, shape_tail=(), n=self.n)[:]

    def _kvikio_file(self):
        return self.handles.get("file", lambda: self.kvikio.CuFile(self.file_path, "r"))

    def _host_images(self) -> np.ndarray:
        return self.handles.get("host_map", lambda: np.memmap(self.file_path, dtype=np.uint8, mode="r",
                                                              shape=(self.n, *self.image_shape)))

    def _read_bytes(self, start: int, stop: int):
        """Images ``start..stop-1`` into a new device array, in pieces of at most 256 MiB."""
        cp = self.cp
        out = cp.empty((stop - start, *self.image_shape), dtype=cp.uint8)
        if self.kvikio is None:
            step = max(1, RESIDENT_PIECE_BYTES // self.image_bytes)
            host = self._host_images()
            for a in range(start, stop, step):
                b = min(a + step, stop)
                out[a - start:b - start].set(np.ascontiguousarray(host[a:b]))
            return out
        flat = out.reshape(-1)
        nbytes = (stop - start) * self.image_bytes
        pieces = []
        for offset in range(0, nbytes, RESIDENT_PIECE_BYTES):
            size = min(RESIDENT_PIECE_BYTES, nbytes - offset)
            pieces.append((flat[offset:offset + size], size, start * self.image_bytes + offset))
        pread_all(self._kvikio_file(), pieces, self.file_path)
        return out

    def read(self, indices):
        """Images at ``indices`` (any order, duplicates allowed) as a CuPy uint8 (n, H, W, 3) array."""
        idx = self._check_indices(indices)
        if self.resident is not None:
            return self.resident[self.cp.asarray(idx)]
        return super().read(idx)

    def _read_sorted(self, indices):
        if self.kvikio is None:
            return self.cp.asarray(self._host_images()[indices])
        # Coalesce runs of consecutive indices: one device read per run.
        out = self.cp.empty((len(indices), *self.image_shape), dtype=self.cp.uint8)
        flat, image_bytes = out.reshape(-1), self.image_bytes
        pieces = [(flat[a * image_bytes:b * image_bytes], (b - a) * image_bytes, int(indices[a]) * image_bytes)
                  for a, b in run_bounds(indices)]
        pread_all(self._kvikio_file(), pieces, self.file_path)
        return out

    def _read_range(self, start, stop):
        if self.resident is not None:
            return self.resident[start:stop]
        return self._read_bytes(start, stop)

    def read_torch(self, indices):
        """Like :meth:`read`, as a CUDA torch tensor sharing the CuPy memory (DLPack, no copy)."""
        import torch
        return torch.from_dlpack(self.read(indices))

    def files(self):
        return [self.file_path, self.path / "labels.npy"]


class CupyFormat(Format):
    name = "cupy"
    open_spec = {"resident": Option(False, "bool", "load the whole set onto the GPU at open"),
                 "use_kvikio": Option(None, "bool", "read through KvikIO (cuFile); none: where it imports",
                                      optional=True),
                 "block_size": BLOCK_SIZE}
    reader = CupyReader

    def needs_cuda(self, open_options):
        return True

    def _write(self, chunks, tmp, source, options):
        write_arrays(tmp / IMAGES, (images for images, _ in chunks))
        save_npy(tmp / "labels.npy", chunks.labels)
        return {"layout": "raw uint8 NHWC, C order, offset 0"}


FORMAT = CupyFormat()
