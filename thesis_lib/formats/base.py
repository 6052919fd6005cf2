"""The format protocol: a :class:`Format` writes a :class:`~thesis_lib.sources.base.Source` to disk and
opens a :class:`Reader` over it.

Every converted dataset is a directory holding the format's payload and ``manifest.json``. The writer
builds the directory as a hidden ``.NAME.partial-PID-*`` sibling and writes the manifest last, so an
interrupted write leaves nothing that :meth:`Format.open` would accept; :mod:`.publish` then makes
it an immutable version and points ``NAME`` at it with one atomic rename.
"""
from __future__ import annotations

import abc
import json
import os
import shutil
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..checks import checked_int
from ..errors import FormatError, SourceError
from ..machine import peak_rss_mb
from ..record import write_json
from ..sources.base import DEFAULT_CHUNK, Source, check_images
from . import publish
from .options import Option, ResolvedOptions, defaults_of
from .publish import MANIFEST, fsync_dir

CHUNK_BYTES = 64 * 2**20  # decoded images a writer holds at once, at most (about)
MANIFEST_VERSION = 1


def dir_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (a file or a directory)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def aligned(chunks: Iterator[tuple[np.ndarray, np.ndarray]], multiple: int):
    """Re-cut a stream of ``(images, labels)`` pieces so each piece but the last holds a multiple
    of ``multiple`` images: writes then cover whole storage chunks, never read-modify-write."""
    held_images: list[np.ndarray] = []
    held_labels: list[np.ndarray] = []
    held = 0
    for images, labels in chunks:
        held_images.append(images)
        held_labels.append(labels)
        held += len(images)
        if held >= multiple:
            images, labels = np.concatenate(held_images), np.concatenate(held_labels)
            cut = held - held % multiple
            yield images[:cut], labels[:cut]
            held_images, held_labels, held = [images[cut:]], [labels[cut:]], held - cut
    if held:
        yield np.concatenate(held_images), np.concatenate(held_labels)


class CheckedChunks:
    """A source's chunks for a writer, each checked to be what the source claims (uint8 images of
    its shape, the labels of :attr:`labels` at those positions, no more images than it reports),
    and counted, so the writer can tell a short stream from a complete one.

    :attr:`labels` is the source's whole label array, checked once (one integer per image, each
    among its classes): writers that store labels apart from the images take it from here."""

    def __init__(self, source: Source, chunk_size: int, bar):
        self.source, self.chunk_size, self.bar = source, chunk_size, bar
        self.labels = checked_labels(source)
        self.count = 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        source = self.source
        for images, labels in source.chunks(self.chunk_size):
            where = f"{source.name}: images {self.count}..{self.count + len(images) - 1}"
            try:
                images = check_images(np.asarray(images), source.image_shape, where)
            except ValueError as exc:
                raise SourceError(str(exc)) from None
            if self.count + len(images) > len(source):
                raise SourceError(f"{source.name}: yielded more images than the {len(source)} it reports")
            labels = np.asarray(labels)
            if labels.shape != (len(images),) or not np.array_equal(labels, self.labels[self.count:self.count + len(images)]):
                raise SourceError(f"{where}: yielded labels that are not the source's labels at those positions")
            yield images, labels
            self.count += len(images)
            self.bar.update(len(images))


def checked_labels(source: Source) -> np.ndarray:
    """``source.labels`` as int64, or SourceError unless it holds one label per image, each among
    the source's classes."""
    labels = np.asarray(source.labels)
    if labels.shape != (len(source),) or not (np.issubdtype(labels.dtype, np.integer) or labels.size == 0):
        raise SourceError(f"{source.name}: {len(source)} images but labels {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(source.classes)):
        raise SourceError(f"{source.name}: a label outside the {len(source.classes)} classes "
                          f"0..{len(source.classes) - 1}")
    return labels.astype(np.int64, copy=False)


class Reader(abc.ABC):
    """Random access to a converted dataset.

    Cheap to open; pickles without its open handles (``_handles`` names them), so a reader handed
    to DataLoader workers reopens its files lazily in each process, under fork and spawn alike.
    """

    _handles: tuple[str, ...] = ()
    #: Whether :meth:`read` returns device arrays (CuPy, or CUDA tensors) rather than NumPy; such a
    #: reader also has ``read_torch(indices)``, the same images as a CUDA torch tensor.
    on_device: bool = False
    #: True when ``_read_sorted`` takes indices in any order (a memory-mapped gather): sorting a
    #: batch then restoring its order would only add a copy, so callers may skip it.
    gathers_any_order: bool = False
    #: False when a forked child cannot use this reader (a library whose thread pool does not
    #: survive fork); DataLoader workers must then be spawned, and a forked child gets an error.
    fork_safe: bool = True
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
        self._pid = os.getpid()
        self.labels: np.ndarray | None = None

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

    def _handle(self, name: str, opener):
        """The open handle ``name``, (re)opened by ``opener()`` on first use in this process.

        Under fork a child inherits the parent's handles; HDF5 and Zarr's I/O threads do not
        survive that, so a handle is reopened whenever the process id changed.
        """
        if self._pid != os.getpid():
            # Only a fork carries a reader into another process unpickled (__setstate__ resets the pid).
            if not self.fork_safe:
                raise FormatError(f"{self.path}: {type(self).__name__} cannot be used in a forked process "
                                  "(its library's threads do not survive fork); start DataLoader workers "
                                  "with the 'spawn' or 'forkserver' context")
            for handle in self._handles:
                self.__dict__.pop(handle, None)
            self._pid = os.getpid()
        handle = self.__dict__.get(name)
        if handle is None:
            handle = self.__dict__[name] = opener()
        return handle

    # -- the public protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        return self.n

    def read(self, indices) -> np.ndarray:
        """Images at ``indices`` (any order, duplicates allowed) as uint8 ``(n, H, W, 3)``."""
        idx = self._check_indices(indices)
        if idx.size == 0:
            return np.empty((0, *self.image_shape), np.uint8)
        if self.gathers_any_order or idx.size == 1 or bool(np.all(idx[1:] > idx[:-1])):
            return self._read_sorted(idx)
        unique, inverse = np.unique(idx, return_inverse=True)
        return self._read_sorted(unique)[inverse]

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop-1``: one contiguous read."""
        if not (0 <= start <= stop <= self.n):
            raise IndexError(f"{self.path}: range [{start}, {stop}) outside 0..{self.n}")
        if start == stop:
            return np.empty((0, *self.image_shape), np.uint8)
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
                raise IndexError(f"{self.path}: range [{start}, {stop}) outside 0..{self.n}")
            total += stop - start
        if out.dtype != np.uint8 or out.shape[1:] != self.image_shape or len(out) < total:
            raise ValueError(f"{self.path}: out must be uint8 (>= {total}, {', '.join(map(str, self.image_shape))}), "
                             f"got {out.dtype} {out.shape}")
        wait = self._start_read_ranges_into(list(ranges), out)

        def rows() -> np.ndarray:
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
        for name in self._handles:
            handle = self.__dict__.pop(name, None)
            if handle is not None and hasattr(handle, "close"):
                handle.close()

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in (*self._handles, "_hold")}
        state["_held"] = self.__dict__.get("_hold") is not None
        return state

    def __setstate__(self, state):
        held = state.pop("_held", False)
        self.__dict__.update(state)
        self._pid = os.getpid()
        if held:  # a reader unpickled in another process (a spawned worker) holds its version too
            lock = publish.hold(self.path)
            if lock is None:
                raise FormatError(f"{self.path}: this version of the dataset was deleted")
            self._keep(lock)

    def _keep(self, lock) -> None:
        """Hold the version this reader reads (see :mod:`.publish`) for as long as the reader lives."""
        self._hold = lock
        weakref.finalize(self, lock.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Close the handles and stop holding the version: leaving ``with`` means done with it.
        (:meth:`close` alone keeps the hold: a loader closes its reader between epochs.)"""
        self.close()
        lock = self.__dict__.pop("_hold", None)
        if lock is not None:
            lock.close()

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
            raise IndexError(f"{self.path}: indices must be integers, got dtype {idx.dtype}")
        if idx.ndim != 1:
            raise IndexError(f"{self.path}: indices must be 1-D, got shape {idx.shape}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)][0]
            raise IndexError(f"{self.path}: index {bad} out of range 0..{self.n - 1}")
        return idx


class Format(abc.ABC):
    """One storage format: how images are written and how they are read back.

    Two kinds of option, kept apart so a read-time setting never triggers a re-conversion:
    write options (:attr:`defaults`) change the bytes on disk and key the converted copy; open
    options (:attr:`open_defaults`: read path, decoder, cache sizes, concurrency, block-mode
    unit) change only how a reader reads them.
    """

    name: str = ""
    #: The write options, each declared once with its type (:class:`~.options.Option`).
    write_spec: dict[str, Option] = {}
    #: The open (read-time) options, passed to the reader as keyword arguments.
    open_spec: dict[str, Option] = {}
    reader: type[Reader]

    @property
    def defaults(self) -> dict:
        """Write option name -> default."""
        return defaults_of(self.write_spec)

    @property
    def open_defaults(self) -> dict:
        """Open option name -> default."""
        return defaults_of(self.open_spec)

    # -- what a format provides -------------------------------------------------------------
    @abc.abstractmethod
    def _write(self, chunks: CheckedChunks, tmp: Path, source: Source, options: dict) -> dict:
        """Write every chunk of ``chunks`` (iterated once) into the empty directory ``tmp``, and the
        labels (``chunks.labels``, all of them, checked); return extra manifest fields."""

    def _open(self, path: Path, manifest: dict, **open_options) -> Reader:
        return self.reader(path, manifest, **open_options)

    def lossless(self, options: dict | None = None) -> bool:
        return True

    def needs_cuda(self, open_options: dict) -> bool:
        """Whether a reader opened with these (resolved) open options reads into GPU memory, so
        it needs a CUDA GPU and a CUDA training device."""
        return False

    # -- options ----------------------------------------------------------------------------
    def resolve_options(self, options: Mapping) -> ResolvedOptions:
        """Write options complete: defaults merged with ``options``, each value parsed to its
        declared type, unknown names refused (with a pointer to the open side for a read-time one).
        Options already resolved for this format are returned as they are."""
        return self._resolve(options, "write", self.write_spec, self.open_spec, self.validate_options)

    def resolve_open_options(self, options: Mapping) -> ResolvedOptions:
        """Open options complete, as :meth:`resolve_options` does for the write side."""
        return self._resolve(options, "open", self.open_spec, self.write_spec, self.validate_open_options)

    def _resolve(self, options: Mapping, side: str, declared: dict, other: dict, validate) -> ResolvedOptions:
        if isinstance(options, ResolvedOptions) and (options.fmt, options.side) == (self.name, side):
            return options
        if not isinstance(options, Mapping):
            raise ValueError(f"format {self.name!r}: {side} options must be a mapping, got {options!r}")
        unknown = sorted(set(options) - set(declared))
        if unknown:
            valid = ", ".join(sorted(declared)) or "none"
            hint = f" (it is one of the {'open' if side == 'write' else 'write'} options)" if unknown[0] in other else ""
            raise ValueError(f"format {self.name!r}: unknown {side} option {unknown[0]!r}{hint}; "
                             f"valid {side} options: {valid}")
        resolved = {name: option.default for name, option in declared.items()}
        for name, value in options.items():
            resolved[name] = declared[name].parse(value, name, f"format {self.name!r}: {side} option")
        validate(resolved)
        return ResolvedOptions(self.name, side, resolved)

    def validate_options(self, options: dict) -> None:
        """Raise ValueError naming a write option whose value does not fit the others."""

    def validate_open_options(self, options: dict) -> None:
        """Raise ValueError naming an open option whose value does not fit the others."""

    # -- write ------------------------------------------------------------------------------
    def write(self, source: Source, path, *, overwrite: bool = False, chunk_size: int | None = None,
              progress: bool | None = None, options: Mapping | None = None, **more_options) -> dict:
        """Convert ``source`` into this format at directory ``path``; streaming and atomic.

        ``chunk_size``: images pulled from the source at a time (default: up to 1024, at most
        about 64 MiB of decoded images), which bounds the writer's memory.

        Returns the write statistics: ``bytes_on_disk``, ``seconds``, ``n``, ``image_shape``,
        ``options``, ``raw_bytes``, ``peak_rss_mb`` and ``path``. Write options come as keywords,
        or as the mapping ``options`` (resolved ones, :class:`~.options.ResolvedOptions`, are not parsed again).
        """
        options = self.resolve_options({**(options or {}), **more_options} if more_options else options or {})
        if chunk_size is None:
            chunk_size = max(1, min(DEFAULT_CHUNK, CHUNK_BYTES // int(np.prod(source.image_shape))))
        path = Path(path)
        publish.check_replaceable(path, overwrite)
        path.parent.mkdir(parents=True, exist_ok=True)
        publish.remove_stale(path)
        tmp = publish.new_partial(path)
        start = time.perf_counter()
        try:
            with tqdm(total=len(source), desc=f"write {self.name}", unit="img", disable=progress is False,
                      leave=False, mininterval=0.5) as bar:
                chunks = CheckedChunks(source, chunk_size, bar)
                extra = self._write(chunks, tmp, source, options)
            if chunks.count != len(source):
                raise SourceError(f"{source.name}: yielded {chunks.count} images but reports {len(source)}")
            manifest = {
                "format": self.name,
                "version": MANIFEST_VERSION,
                "n": len(source),
                "image_shape": list(source.image_shape),
                "classes": list(source.classes),
                "class_names": list(source.class_names),
                "options": options,
                "source": source.spec,
                "lossless": self.lossless(options),
                "write_seconds": time.perf_counter() - start,
                **(extra or {}),
            }
            write_json(tmp / MANIFEST, manifest)
            fsync_dir(tmp)
            publish.publish(tmp, path, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        seconds = time.perf_counter() - start
        return {
            "format": self.name,
            "path": str(path),
            "n": len(source),
            "image_shape": list(source.image_shape),
            "options": options,
            "bytes_on_disk": dir_bytes(path),
            "raw_bytes": source.raw_bytes,
            "seconds": seconds,
            "peak_rss_mb": peak_rss_mb(),
        }

    # -- open -------------------------------------------------------------------------------
    def open(self, path, *, options: Mapping | None = None, **open_options) -> Reader:
        """Open the converted dataset at ``path``; FormatError if it is missing, partial or foreign.

        ``open_options`` are read-time settings (:attr:`open_spec`), as keywords or the mapping
        ``options``; they never change the data.
        The reader reads the version ``path`` names now (its ``path`` is that version's folder) and
        holds it, so a later overwrite of ``path`` neither changes nor deletes what it reads.
        """
        options = self.resolve_open_options({**(options or {}), **open_options} if open_options else options or {})
        version, held = publish.resolve(Path(path))
        try:
            manifest = _read_manifest_at(version, shown=Path(path))
            if manifest["format"] != self.name:
                raise FormatError(f"{path}: holds format {manifest['format']!r}, not {self.name!r}")
            reader = self._open(version, manifest, **options).load_labels()
        except BaseException:
            if held is not None:
                held.close()
            raise
        if held is not None:
            reader._keep(held)
        return reader


def read_manifest(path) -> dict:
    """The manifest of a converted dataset, or FormatError naming what is wrong."""
    path = Path(path)
    version, held = publish.resolve(path)
    try:
        return _read_manifest_at(version, shown=path)
    finally:
        if held is not None:
            held.close()


def _read_manifest_at(folder: Path, shown: Path) -> dict:
    """The checked manifest in ``folder``, the dataset the user named ``shown``."""
    if not folder.is_dir():
        hint = ""
        if any(shown.parent.glob(f".{shown.name}.partial-*")):
            hint = " (only a partial write is there: the writer was interrupted; write it again)"
        raise FormatError(f"{shown}: no converted dataset here{hint}")
    file = folder / MANIFEST
    if not file.is_file():
        raise FormatError(f"{shown}: {MANIFEST} is missing, so the write did not complete")
    try:
        manifest = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{file}: not valid JSON ({exc})") from None
    check_manifest(manifest, file)
    return manifest


def check_manifest(manifest, file: Path) -> None:
    """FormatError naming ``file`` and the field when a manifest field a reader relies on is
    missing or of the wrong type or range (a reader must never act on such a value)."""
    if not isinstance(manifest, dict):
        raise FormatError(f"{file}: the manifest is not a JSON object")
    for key in ("format", "n", "image_shape", "options"):
        if key not in manifest:
            raise FormatError(f"{file}: the manifest lacks {key!r}")
    if not isinstance(manifest["format"], str):
        raise FormatError(f"{file}: format must be a string, got {manifest['format']!r}")
    checked_int(manifest["n"], f"{file}: n", 0, FormatError)
    shape = manifest["image_shape"]
    if (not isinstance(shape, list) or len(shape) != 3 or shape[2] != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
        raise FormatError(f"{file}: image_shape must be [height, width, 3], got {shape!r}")
    for key in ("classes", "class_names"):
        if not isinstance(manifest.get(key, []), list):
            raise FormatError(f"{file}: {key} must be a list, got {manifest[key]!r}")
    if not isinstance(manifest["options"], dict):
        raise FormatError(f"{file}: options must be a JSON object, got {manifest['options']!r}")

