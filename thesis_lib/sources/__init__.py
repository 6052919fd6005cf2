"""Where images come from: one :func:`load` for every dataset the thesis uses.

>>> src = load("synthetic", limit=1000)            # the offline default, CIFAR-10-shaped
>>> images, labels = next(src.chunks(256))          # uint8 (256, 32, 32, 3), int64 (256,)

Each source's ``spec`` identifies its content: what it is and how it was read, plus a fingerprint of
its files (sizes and modification times; for zips, the members' checksums), so converted copies
are reused only for the same images.
"""
from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from ..core.registry import pick
from .base import DEFAULT_CHUNK, ArraySource, LimitedSource, ResizedSource, Source
from .cifar10 import open_cifar10
from .download import DOWNLOADABLE
from .hires import open_hires
from .imagefolder import open_imagefolder
from .synthetic import open_synthetic
from .tinyimagenet import open_tiny_imagenet

__all__ = ["ArraySource", "LimitedSource", "ResizedSource", "Source", "load", "names", "summarize"]


# Each opener takes (root, split, image_size, download); its keyword-only parameters are the
# source's options. An opener may honour image_size itself (generating or decoding at that size).
_OPENERS: dict[str, Callable[..., Source]] = {
    "synthetic": open_synthetic,
    "cifar10": open_cifar10,
    "tiny-imagenet": open_tiny_imagenet,
    "imagefolder": open_imagefolder,
    "hires": open_hires,
}



def names() -> list[str]:
    """The dataset names :func:`load` accepts."""
    return list(_OPENERS)


def options(name: str) -> dict[str, object]:
    """The options a source takes, with their defaults."""
    params = inspect.signature(_opener(name)).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _opener(name: str) -> Callable[..., Source]:
    return pick(_OPENERS, name, "dataset")


def load(name: str, root: str | os.PathLike | None = None, *, split: str = "train",
         image_size: int | None = None, limit: int | None = None, download: bool = False, **opts) -> Source:
    """Open dataset ``name`` (see :func:`names`) as a :class:`Source`.

    ``root`` is where its files are (default ``data/<name>``); ``download`` fetches them there with
    checksum verification when missing; ``image_size`` resizes every image to a square of that side;
    ``limit`` keeps the first images only. Bad input raises :class:`thesis_lib.SourceError`.
    """
    unknown = sorted(set(opts) - set(options(name)))
    if unknown:
        valid = ", ".join(options(name)) or "none"
        raise ValueError(f"{name}: unknown option {', '.join(map(repr, unknown))}; valid options: {valid}")
    source = _opener(name)(root, split, image_size, download, **opts)
    if image_size is not None and source.image_shape[:2] != (image_size, image_size):
        source = ResizedSource(source, image_size)
    if limit is not None:
        source = LimitedSource(source, limit)
    return source


def summarize(source: Source, progress: bool = True, chunk: int = DEFAULT_CHUNK) -> dict:
    """:meth:`Source.summary` plus what takes a pass over the images: per-channel mean and std in [0, 1]
    (the normalisation constants) and the seconds the pass took, streamed chunk by chunk with a
    progress bar."""
    total = np.zeros(3, np.int64)
    squares = np.zeros(3, np.int64)
    started = time.perf_counter()
    with tqdm(total=len(source), unit="img", desc=f"reading {source.name}", disable=not progress) as bar:
        for images, _ in source.chunks(chunk):
            pixels = images.reshape(-1, 3)
            total += pixels.sum(axis=0, dtype=np.int64)
            squares += np.einsum("ij,ij->j", pixels, pixels, dtype=np.int64)
            bar.update(len(images))
    count = max(len(source) * source.image_shape[0] * source.image_shape[1], 1)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0))
    return {**source.summary(), "mean": (mean / 255).round(4).tolist(), "std": (std / 255).round(4).tolist(),
            "read_seconds": round(time.perf_counter() - started, 3)}
