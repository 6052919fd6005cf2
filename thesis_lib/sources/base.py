"""The :class:`Source` protocol every dataset implements, plus the generic wrappers.

A source is a labelled image collection read in index order. It never decodes the whole set at
once: :meth:`Source.chunks` streams ``(uint8 [k,H,W,3], int64 [k])`` pieces, and the storage
formats write from those pieces, so a conversion's memory is bounded by one chunk.
"""
from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

DEFAULT_CHUNK = 1024


class Source(abc.ABC):
    """A labelled image collection: uint8 HWC RGB images, int64 labels, class ids and names.

    Subclasses set ``labels``, ``classes``, ``class_names``, ``image_shape`` and ``spec`` in their
    constructor and implement :meth:`read_range`.
    """

    name: str = "source"
    labels: np.ndarray
    classes: list[str]
    class_names: list[str]
    image_shape: tuple[int, int, int]
    spec: dict  # JSON-serialisable identity: equal specs mean identical images and labels

    def __len__(self) -> int:
        return len(self.labels)

    @abc.abstractmethod
    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Images ``start..stop-1`` as one uint8 array ``(stop-start, H, W, 3)``."""

    def get(self, i: int) -> tuple[np.ndarray, int]:
        """Image ``i`` (uint8 HWC RGB) and its label."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.name}: index {i} out of range for {n} images")
        i %= n
        return self.read_range(i, i + 1)[0], int(self.labels[i])

    def chunks(self, n: int = DEFAULT_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(images, labels)`` pieces of at most ``n`` images, in index order."""
        if n < 1:
            raise ValueError(f"chunks: n must be >= 1, got {n}")
        for start in range(0, len(self), n):
            stop = min(start + n, len(self))
            yield self.read_range(start, stop), self.labels[start:stop]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def raw_bytes(self) -> int:
        """Bytes of the decoded uint8 images: N x H x W x 3."""
        return len(self) * int(np.prod(self.image_shape))

    def summary(self) -> dict:
        """What ``prepare`` prints: count, classes, shape, raw bytes, class balance."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {
            "dataset": self.name,
            "spec": self.spec,
            "n": len(self),
            "num_classes": self.num_classes,
            "image_shape": list(self.image_shape),
            "raw_bytes": self.raw_bytes,
            "class_counts": {name: int(c) for name, c in zip(self.class_names, counts)},
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} n={len(self)} shape={self.image_shape}>"


def fingerprint(entries: Iterable[tuple]) -> str:
    """A short hash of ``entries`` (file names with sizes and times, or checksums): what a source's
    ``spec`` carries so that a converted copy is not reused once the source's files changed."""
    text = "\n".join(repr(tuple(entry)) for entry in entries)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_images(images: np.ndarray, image_shape: Sequence[int], where: str) -> np.ndarray:
    """Check a decoded chunk is uint8 ``(k, *image_shape)``; raise ValueError naming ``where``."""
    if images.dtype != np.uint8 or images.shape[1:] != tuple(image_shape):
        raise ValueError(
            f"{where}: expected uint8 images of shape (k, {', '.join(map(str, image_shape))}), "
            f"got {images.dtype} {images.shape}"
        )
    return images


class ArraySource(Source):
    """An in-memory source over given arrays: for tests and for data already decoded."""

    def __init__(self, images: np.ndarray, labels: Sequence[int], *, classes: Sequence[str] | None = None,
                 class_names: Sequence[str] | None = None, name: str = "array", spec: dict | None = None):
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int64)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"{name}: images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{name}: {len(images)} images but {len(labels)} labels")
        if classes is None:
            classes = [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]
        self.name = name
        self._images = images
        self.labels = labels
        self.classes = list(classes)
        self.class_names = list(class_names) if class_names is not None else list(self.classes)
        self.image_shape = tuple(images.shape[1:])
        self.spec = spec or {"name": name, "n": len(labels), "shape": list(self.image_shape),
                             "content": _array_digest(images, labels)}

    def read_range(self, start: int, stop: int) -> np.ndarray:
        return self._images[start:stop]


def _array_digest(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(images))
    digest.update(np.ascontiguousarray(labels))
    return digest.hexdigest()[:16]


class LimitedSource(Source):
    """The first ``limit`` images of another source."""

    def __init__(self, base: Source, limit: int):
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.base = base
        self.name = base.name
        self.labels = base.labels[:limit]
        self.classes, self.class_names = base.classes, base.class_names
        self.image_shape = base.image_shape
        self.spec = {**base.spec, "limit": int(min(limit, len(base)))}

    def read_range(self, start: int, stop: int) -> np.ndarray:
        return self.base.read_range(start, min(stop, len(self)))


class ResizedSource(Source):
    """Another source resized to ``size x size`` (antialiased bilinear): the image-size sweep."""

    def __init__(self, base: Source, size: int):
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"image_size must be a positive integer, got {size!r}")
        self.base = base
        self.size = int(size)
        self.name = base.name
        self.labels = base.labels
        self.classes, self.class_names = base.classes, base.class_names
        self.image_shape = (self.size, self.size, 3)
        self.spec = {**base.spec, "image_size": self.size}

    def read_range(self, start: int, stop: int) -> np.ndarray:
        images = self.base.read_range(start, stop)
        if images.shape[1:3] == (self.size, self.size):
            return images
        out = np.empty((len(images), self.size, self.size, 3), np.uint8)
        for k, img in enumerate(images):
            out[k] = np.asarray(Image.fromarray(img).resize((self.size, self.size), Image.BILINEAR))
        return out


class BlockedSource(Source):
    """A source stored as consecutive blocks (archive batches, generator blocks).

    Subclasses set ``block_starts`` (first index of each block, then ``len``) and implement
    :meth:`load_block`. Reads load only the blocks they overlap and keep the last one, so reading
    in index order loads every block once and memory stays bounded by one block plus one read.
    """

    block_starts: np.ndarray

    @abc.abstractmethod
    def load_block(self, b: int) -> np.ndarray:
        """All images of block ``b`` as uint8 ``(k, H, W, 3)``."""

    def read_range(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, len(self))
        parts = [np.empty((0, *self.image_shape), np.uint8)]
        b = int(np.searchsorted(self.block_starts, start, side="right")) - 1
        while start < stop:
            first, end = int(self.block_starts[b]), int(self.block_starts[b + 1])
            upto = min(stop, end)
            parts.append(self._block(b)[start - first:upto - first])
            start, b = upto, b + 1
        return np.concatenate(parts)  # a copy: callers may not alter the cached block

    def _block(self, b: int) -> np.ndarray:
        cached = getattr(self, "_cached", None)
        if cached is None or cached[0] != b:
            self._cached = cached = (b, self.load_block(b))
        return cached[1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_cached", None)  # a worker process reloads what it reads
        return state
