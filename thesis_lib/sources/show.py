"""Looking at sources (for ``notebooks/datasets.ipynb``): sample images per class and class balance."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from ..core.errors import SourceError
from ..core.paths import cifar10_jpeg_zip
from . import load, names
from .base import Source


def sources_at_hand(limit: int | None = None) -> dict[str, Source]:
    """Every registered dataset (:func:`thesis_lib.sources.names`) that opens from its default
    folder without downloading, by its name, and the real CIFAR-10 JPEG zip as ``"CIFAR-10 JPEG zip"``
    when it is in ``shared/data``.

    The generated default and the high-resolution set (real, or its generated stand-in) always
    open; CIFAR-10 and Tiny ImageNet when they sit under ``data/``; ``imagefolder`` needs a root.
    """
    candidates = {name: (name, None) for name in names()}
    if cifar10_jpeg_zip() is not None:
        candidates["CIFAR-10 JPEG zip"] = ("imagefolder", cifar10_jpeg_zip())
    found = {}
    for label, (name, root) in candidates.items():
        try:
            found[label] = load(name, root, limit=limit)
        except SourceError:
            continue
    return found


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[:2] == (side, side):
        return image
    return np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))


def sample_mosaic(source: Source, per_class: int = 8, max_classes: int = 10, side: int = 64) -> np.ndarray:
    """One image holding a row per class (the first ``max_classes``) of its first ``per_class`` images."""
    blank = np.full((side, side, 3), 255, np.uint8)
    rows = []
    for c in range(min(source.num_classes, max_classes)):
        tiles = [_tile(source.get(int(i))[0], side) for i in np.flatnonzero(source.labels == c)[:per_class]]
        rows.append(np.concatenate(tiles + [blank] * (per_class - len(tiles)), axis=1))
    return np.concatenate(rows, axis=0)


def plot_samples(source: Source, per_class: int = 8, max_classes: int = 10, side: int = 64, ax=None):
    """Sample images, a row per class labelled with the class name."""
    mosaic = sample_mosaic(source, per_class, max_classes, side)
    rows = mosaic.shape[0] // side
    ax = ax or plt.subplots(figsize=(per_class * 0.8, rows * 0.8))[1]
    ax.imshow(mosaic)
    ax.set_yticks((np.arange(rows) + 0.5) * side, source.class_names[:rows])
    ax.set_xticks([])
    ax.set_title(f"{source.name}: {source.image_shape[0]} px, first {per_class} images per class")
    return ax


def plot_class_balance(source: Source, ax=None):
    """Images per class, as horizontal bars."""
    counts = pd.DataFrame({"class": source.class_names,
                           "images": np.bincount(source.labels, minlength=source.num_classes)})
    ax = ax or plt.subplots(figsize=(5, max(2.5, 0.25 * len(counts))))[1]
    sns.barplot(data=counts, x="images", y="class", color=sns.color_palette()[0], ax=ax)
    if len(counts) > 30:  # too many names to read; the bars still show the balance
        ax.set_yticks([])
    ax.set_title(f"{source.name}: {len(source):,} images in {source.num_classes} classes")
    return ax


def overview(source: Source, per_class: int = 8):
    """Samples and class balance side by side."""
    rows = min(source.num_classes, 10)
    fig, (left, right) = plt.subplots(1, 2, figsize=(per_class * 0.8 + 5, max(3.0, rows * 0.8)),
                                      gridspec_kw={"width_ratios": [per_class * 0.8, 4]})
    plot_samples(source, per_class, ax=left)
    plot_class_balance(source, ax=right)
    fig.tight_layout()
    return fig


def summary_table(found: dict[str, Source]) -> pd.DataFrame:
    """One row per source: what it is and how big it is decoded."""
    return pd.DataFrame([
        {"source": label, "name": s.name, "images": len(s), "classes": s.num_classes,
         "shape": "x".join(map(str, s.image_shape)), "decoded MB": round(s.raw_bytes / 1e6, 1)}
        for label, s in found.items()
    ]).set_index("source")
