"""The format protocol: a :class:`Format` writes a :class:`~thesis_lib.sources.base.Source` to disk and
opens a :class:`~.reader.Reader` over it.

Every converted dataset is a directory holding the format's payload and ``manifest.json``. The writer
builds the directory as a hidden ``.NAME.partial-PID-*`` sibling and writes the manifest last, so an
interrupted write leaves nothing that :meth:`Format.open` would accept; :mod:`.publish` then makes
it an immutable version and points ``NAME`` at it with one atomic rename.
"""
from __future__ import annotations

import abc
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..core.errors import FormatError, SourceError
from ..core.machine import peak_rss_mb
from ..core.record import write_json
from ..sources.base import DEFAULT_CHUNK, Source
from . import publish, version_folders, version_locks
from .manifest import MANIFEST_VERSION, _read_manifest_at, read_manifest
from .options import Option, ResolvedOptions, defaults_of
from .publish import fsync_dir
from .reader import Reader
from .shown_name import ShownName
from .version_folders import MANIFEST
from .version_hold import VersionHold
from .writing import CheckedChunks, dir_bytes, disk_full_error

CHUNK_BYTES = 64 * 2**20  # decoded images a writer holds at once, at most (about)
# Reader, read_manifest and dir_bytes lived here; callers still import them from here.
__all__ = ["CHUNK_BYTES", "Format", "Reader", "dir_bytes", "read_manifest"]


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
        ``options``, ``raw_bytes``, ``peak_rss_mb`` and ``path``. On any error the partial copy is
        removed; a full disk raises OSError (ENOSPC) naming ``path``, the file and the full disk.
        """
        options = self.resolve_options({**(options or {}), **more_options} if more_options else options or {})
        if chunk_size is None:
            chunk_size = max(1, min(DEFAULT_CHUNK, CHUNK_BYTES // int(np.prod(source.image_shape))))
        path = Path(path)
        version_folders.check_replaceable(path, overwrite)
        path.parent.mkdir(parents=True, exist_ok=True)
        version_folders.remove_stale(path)
        tmp = version_folders.new_partial(path)
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
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            full = disk_full_error(exc, path, tmp) if isinstance(exc, OSError) else None
            if full is not None:
                raise full from exc
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
        version, held = version_locks.resolve(Path(path))
        hold = VersionHold(version, held)
        try:
            with ShownName(version, Path(path)).errors():
                manifest = _read_manifest_at(version, shown=Path(path))
                if manifest["format"] != self.name:
                    raise FormatError(f"{path}: holds format {manifest['format']!r}, not {self.name!r}")
                return self._open(version, manifest, **options).opened_as(Path(path), hold).load_labels()
        except BaseException:
            hold.release()
            raise
