"""The reading side of the format protocol: :class:`Reader`, random access to a converted dataset.

A format's reader provides ``_load_labels`` and ``_read_sorted`` (and faster range reads where it
has them); this class checks indices and labels, restores a batch's order, keeps the open files
per process (:class:`.handles.Handles`) and the version read (:class:`.version_hold.VersionHold`),
and names the dataset in errors as the user opened it (:class:`.shown_name.ShownName`).
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core.checks import checked_int
from ..core.errors import FormatError
from .handles import Handles
from .shown_name import ShownName
from .version_hold import VersionHold


class Reader(abc.ABC):
    """Random access to a converted dataset.

    Cheap to open. Its open files live in :attr:`handles`, which pickles empty, so a reader handed
    to DataLoader workers reopens its files lazily in each process, under fork and spawn alike;
    :attr:`hold` keeps the version it reads from being deleted while it lives. Errors name the
    dataset as the user opened it (:attr:`name`), not the version folder it reads.
    """

    #: Whether :meth:`read` returns device arrays (CuPy, or CUDA tensors) rather than NumPy; such a
    #: reader also has ``read_torch(indices)``, the same images as a CUDA torch tensor.
    on_device: bool = False
    #: True when ``_read_sorted`` takes indices in any order (a memory-mapped gather): sorting a
    #: batch then restoring its order would only add a copy, so callers may skip it.
    gathers_any_order: bool = False
    #: False when a forked child cannot use this reader (a library whose thread pool does not
    #: survive fork); DataLoader workers must then be spawned, and a forked child gets an error.
    fork_safe: bool = True
    #: False when threads of one process must not read through this reader at once; thread
    #: workers then refuse it. Every reader here was measured safe: 2 threads x 200 batches give
    #: the bytes one thread does (tests/test_workers.py).
    thread_safe: bool = True
    #: True when :meth:`start_read_ranges_into` returns before the read is done (the library reads
    #: on its own threads), so a caller can overlap other work with it.
    reads_in_background: bool = False

    def __init__(self, path: Path, manifest: dict):
        # A subclass calls this first, then opens and checks its own storage; the labels are
        # loaded after the whole reader is built (:meth:`load_labels`, called by Format.open).
        self.path = Path(path)
        self.manifest = manifest
        self.image_shape = tuple(manifest["image_shape"])
        self.classes = manifest.get("classes", [])
        self.class_names = manifest.get("class_names", self.classes)
        self.options = manifest.get("options", {})
        self.n = int(manifest["n"])
        self.labels: np.ndarray | None = None
        self.name = ShownName(self.path)
        self.handles = Handles(f"{self.path}: {type(self).__name__}", self.fork_safe)
        self.hold = VersionHold(self.path)

    def opened_as(self, shown: Path, hold: VersionHold) -> "Reader":
        """What :meth:`Format.open` tells the reader: the path the user opened, and the hold on
        the version it resolved to. Returns self."""
        self.name = ShownName(self.path, shown)
        self.handles.owner = f"{self.name}: {type(self).__name__}"
        self.hold = hold
        return self

    def load_labels(self) -> "Reader":
        """Load and check the stored labels (FormatError naming the file when they are bad); returns self."""
        self.labels = self._check_labels(self._load_labels())
        return self

    @property
    def block_size(self) -> int:
        """Images per natural contiguous unit (an HDF5/Zarr chunk, else the ``block_size`` open
        option); block-mode loaders align to it."""
        return self.__dict__.get("_block_size", 1)

    @block_size.setter
    def block_size(self, value) -> None:
        # Checked here, wherever the value comes from: 0 would make block mode divide by zero.
        self._block_size = checked_int(value, "open option block_size", 1)

    # -- what a format provides -------------------------------------------------------------
    @abc.abstractmethod
    def _load_labels(self) -> np.ndarray:
        """The stored labels."""

    @abc.abstractmethod
    def _read_sorted(self, indices: np.ndarray) -> np.ndarray:
        """Images at strictly increasing, in-range ``indices`` (any in-range indices when
        ``gathers_any_order``)."""

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        return self._read_sorted(np.arange(start, stop))

    def _read_ranges_into(self, ranges: list[tuple[int, int]], out: np.ndarray) -> None:
        pos = 0
        for start, stop in ranges:
            out[pos:pos + stop - start] = self._read_range(start, stop)
            pos += stop - start

    def _start_read_ranges_into(self, ranges: list[tuple[int, int]], out: np.ndarray) -> Callable[[], None]:
        self._read_ranges_into(ranges, out)
        return lambda: None

    # -- the public protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def read(self, indices) -> np.ndarray:
        """Images at ``indices`` (any order, duplicates allowed) as uint8 ``(n, H, W, 3)``."""
        idx = self._check_indices(indices)
        if idx.size == 0:
            return np.empty((0, *self.image_shape), np.uint8)
        with self.name.errors():
            if self.gathers_any_order or idx.size == 1 or bool(np.all(idx[1:] > idx[:-1])):
                return self._read_sorted(idx)
            unique, inverse = np.unique(idx, return_inverse=True)
            return self._read_sorted(unique)[inverse]

    def read_into(self, indices, out: np.ndarray) -> np.ndarray:
        """:meth:`read`, written into the first rows of ``out`` (a caller's buffer, reused from
        read to read); returns those rows."""
        idx = self._check_indices(indices)
        if out.dtype != np.uint8 or out.shape[1:] != self.image_shape or len(out) < idx.size:
            raise ValueError(f"{self.name}: out must be uint8 (>= {idx.size}, {', '.join(map(str, self.image_shape))}), "
                             f"got {out.dtype} {out.shape}")
        rows = out[:idx.size]
        if idx.size:
            with self.name.errors():
                self._read_into(idx, rows)
        return rows

    def _read_into(self, indices: np.ndarray, out: np.ndarray) -> None:
        out[...] = self.read(indices)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop-1``: one contiguous read."""
        if not (0 <= start <= stop <= self.n):
            raise IndexError(f"{self.name}: range [{start}, {stop}) outside 0..{self.n}")
        if start == stop:
            return np.empty((0, *self.image_shape), np.uint8)
        with self.name.errors():
            return self._read_range(start, stop)

    def read_ranges_into(self, ranges, out: np.ndarray) -> np.ndarray:
        """The images of each ``(start, stop)`` range, one range after another, written into the
        first rows of ``out`` (a caller's buffer, reused from read to read); returns those rows."""
        return self.start_read_ranges_into(ranges, out)()

    def start_read_ranges_into(self, ranges, out: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`read_ranges_into`, begun: returns the function that waits for it and returns the
        rows. A reader whose library reads on its own threads returns at once, so the caller can
        work meanwhile; the others have read when this returns. ``out`` is off limits until then."""
        total = 0
        for start, stop in ranges:
            if not (0 <= start < stop <= self.n):
                raise IndexError(f"{self.name}: range [{start}, {stop}) outside 0..{self.n}")
            total += stop - start
        if out.dtype != np.uint8 or out.shape[1:] != self.image_shape or len(out) < total:
            raise ValueError(f"{self.name}: out must be uint8 (>= {total}, {', '.join(map(str, self.image_shape))}), "
                             f"got {out.dtype} {out.shape}")
        with self.name.errors():
            wait = self._start_read_ranges_into(list(ranges), out)

        def rows() -> np.ndarray:
            with self.name.errors():
                wait()
            return out[:total]
        return rows

    def limit_threads(self, threads: int) -> None:
        """Let this reader's library use at most ``threads`` threads in this process (a DataLoader
        worker's share of the cores). Readers without threads of their own ignore it."""

    def files(self) -> list[Path]:
        """Every file of the converted dataset (what a cold-cache epoch evicts)."""
        return sorted(p for p in self.path.rglob("*") if p.is_file())

    def close(self) -> None:
        """Close the open files; the next read reopens them. The version stays held."""
        self.handles.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Close the handles and stop holding the version: leaving ``with`` means done with it.
        (:meth:`close` alone keeps the hold: a loader closes its reader between epochs.)"""
        self.close()
        self.hold.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path} n={self.n} shape={self.image_shape}>"

    # -- checks -------------------------------------------------------------------------------
    def _check_labels(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise FormatError(f"{self.path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
        if len(labels) != self.n:
            raise FormatError(f"{self.path}: {len(labels)} labels but the manifest says {self.n} images")
        limit = len(self.classes) if self.classes else np.iinfo(np.int64).max
        if labels.size and (labels.min() < 0 or labels.max() >= limit):
            bad = labels[(labels < 0) | (labels >= limit)][0]
            raise FormatError(f"{self.path}: label {bad} is outside the {len(self.classes)} classes "
                              f"0..{len(self.classes) - 1} of the manifest")
        return labels.astype(np.int64, copy=False)

    def _check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim == 0:
            idx = idx.reshape(1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"{self.name}: indices must be integers, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise IndexError(f"{self.name}: indices must be 1-D, got shape {idx.shape}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)][0]
            raise IndexError(f"{self.name}: index {bad} out of range 0..{self.n - 1}")
        return idx
