"""What every step measures with: timing, the generated data, a failure's one-line text."""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ... import formats, sources


def timed(fn: Callable[[], object], sync: Callable[[], None] = lambda: None) -> float:
    """Seconds ``fn()`` takes, ``sync()`` after it included (to wait for queued device work)."""
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def cuda_sync() -> None:
    torch.cuda.synchronize()


@functools.lru_cache(maxsize=2)
def synthetic(n: int) -> sources.ArraySource:
    """``n`` generated CIFAR-size images (32 px, 10 classes), made once for every format."""
    source = sources.load("synthetic", n=n)
    images = source.read_range(0, n)
    return sources.ArraySource(images, source.labels[:n], classes=source.classes, class_names=source.class_names,
                               name=source.name, spec=source.spec)


def write_synthetic(fmt: str, n: int, path: Path, **options) -> None:
    formats.get(fmt).write(synthetic(n), path, progress=False, **options)


def each(fn: Callable[[object], object], items) -> Callable[[], None]:
    """A function calling ``fn(item)`` for every item, each result dropped before the next call
    (a list of them would keep every result alive, and each call would pay for fresh memory)."""
    def run() -> None:
        for item in items:
            fn(item)
    return run


def error_text(exc: BaseException) -> str:
    """A failure in one line, for a row's note."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
