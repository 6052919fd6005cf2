"""Tiny datasets for the loading and training tests, written to a format on demand."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from thesis_lib import formats
from thesis_lib.core import cache
from thesis_lib.core.paths import REPO_ROOT
from thesis_lib.sources.base import ArraySource

#: The formats a CPU-only machine can read with their default open options (cupy needs CUDA).
CPU_FORMATS = [name for name in formats.names()
               if not formats.get(name).needs_cuda(formats.get(name).resolve_open_options({}))]


def id_images(n: int, size: int = 8, num_classes: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random images whose first pixel spells their index (red + 256 green), so any batch can be
    traced back to the source; labels are ``index % num_classes``."""
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    ids = np.arange(n)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = ids % 256, ids // 256
    return images, ids % num_classes


def decode_ids(images_nchw) -> np.ndarray:
    """The indices :func:`id_images` wrote into a uint8 NCHW batch."""
    images = np.asarray(images_nchw.cpu(), dtype=np.int64)
    return images[:, 0, 0, 0] + 256 * images[:, 1, 0, 0]


def colour_blobs(n: int, size: int = 32, num_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable set: dark noise with one square blob whose colour (jittered) gives the class."""
    rng = np.random.default_rng(seed)
    palette = np.random.default_rng(1234).integers(0, 256, (num_classes, 3))
    labels = rng.integers(0, num_classes, n)
    images = rng.integers(0, 96, (n, size, size, 3)).astype(np.uint8)
    side = size // 3
    for image, label in zip(images, labels):
        y, x = rng.integers(0, size - side, 2)
        image[y:y + side, x:x + side] = np.clip(palette[label] + rng.integers(-30, 30, 3), 0, 255)
    return images, labels


def write(fmt: str, images: np.ndarray, labels: np.ndarray, path: Path, open_options: dict | None = None,
          **options):
    """Write the arrays in format ``fmt`` (write ``options``) and open them (``open_options``)."""
    formats.get(fmt).write(ArraySource(images, labels), path, progress=False, **options)
    return formats.get(fmt).open(path, **(open_options or {}))


@pytest.fixture
def disk_dir(tmp_path: Path):
    """A writable folder whose pages can be evicted (not tmpfs); skip when there is none."""
    if cache.can_evict(tmp_path):
        yield tmp_path
        return
    fallback = REPO_ROOT / "data" / "tmp-tests" / tmp_path.name
    try:
        fallback.mkdir(parents=True, exist_ok=True)
    except OSError:
        pytest.skip(f"{tmp_path} is on {cache.filesystem(tmp_path)} and {fallback} is not writable: "
                    "no folder where eviction can be shown")
    if not cache.can_evict(fallback):
        pytest.skip(f"{tmp_path} and {fallback} are memory-backed: eviction cannot be shown there")
    yield fallback
    shutil.rmtree(fallback, ignore_errors=True)
