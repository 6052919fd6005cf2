"""What a writer is given and what a failed write says: checked chunks of a source, chunks re-cut
to whole storage chunks, bytes on disk, and a full disk named as such."""
from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..core.errors import SourceError
from ..sources.base import Source, check_images

#: The write errors that mean the disk has no room left, and how a message says so.
DISK_FULL = {errno.ENOSPC: "no space left on the disk", errno.EDQUOT: "the disk quota is used up"}


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


def write_arrays(file: Path, arrays, header: bytes = b"") -> None:
    """Write ``header`` then each array's bytes, C order, to a new ``file``. Through Python's
    buffered file, not ``ndarray.tofile``: a full disk then raises ENOSPC naming ``file``, where
    ``tofile`` reports only "N requested and M written"."""
    with naming(file), open(file, "wb") as f:
        f.write(header)
        for array in arrays:
            f.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8))  # its bytes, no copy


@contextmanager
def naming(file: Path):
    """Name ``file`` in an OSError raised inside that names no file (a failed write names none)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(file)
        raise


def disk_full_error(exc: OSError, path: Path, partial: Path) -> OSError | None:
    """For a write into ``partial`` (the build of dataset ``path``) that failed for want of
    space, an OSError naming ``path``, the file and the full disk; None for any other error."""
    if exc.errno not in DISK_FULL:
        return None
    file = ""
    if exc.filename:
        try:
            file = f", writing {Path(exc.filename).relative_to(partial)}"
        except ValueError:
            file = f", writing {exc.filename}"
    return OSError(exc.errno, f"{path}: {DISK_FULL[exc.errno]}{file}; the partial copy was removed. "
                              f"Free space on the disk holding {path.parent} or write elsewhere")
