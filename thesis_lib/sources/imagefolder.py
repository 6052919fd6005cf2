"""Images stored one per file, in a folder or a zip: ``root/[split/]<class>/<image>``.

:class:`FileSource` decodes lazily, only the images a read asks for; the ``tiny-imagenet`` and
``hires`` sources build on it with their own layouts. Where the files lie is :mod:`.stores`; how
a tree's folders name its splits and classes is :mod:`.class_folders`.
"""
from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.errors import SourceError
from .base import Source
from .class_folders import class_tree
from .download import dataset_root
from .stores import DirStore, ZipStore, open_store


@contextlib.contextmanager
def _opened(data: bytes, where: str) -> Iterator[Image.Image]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            yield image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise SourceError(f"{where}: cannot decode image ({error})") from error


def _as_rgb(image: Image.Image, where: str) -> Image.Image:
    """8-bit RGB: 16-bit grey scaled down (PIL's own conversion would clip it to 255); 32-bit
    integer and float images refused, as their value range is unknown."""
    if image.mode.startswith("I;16"):
        wide = np.asarray(image, dtype=np.uint32)
        image = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    elif image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise SourceError(f"{where}: a {kind} image (PIL mode {image.mode}) has no known value range; "
                          "convert it to 8 or 16 bits per channel first")
    return image.convert("RGB")


def decode_image(data: bytes, where: str, size: int | None = None) -> np.ndarray:
    """Decode to uint8 HWC RGB (grayscale, 16-bit grayscale, palette and alpha images too); with
    ``size``, center-crop to a square and resize to ``size x size``."""
    with _opened(data, where) as image:
        image = _as_rgb(image, where)
    if size is not None and image.size != (size, size):
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(image)


def class_interleaved(labels: np.ndarray) -> np.ndarray:
    """An order that deals the images out class by class (the first of every class, then the
    second of every class, ...), keeping each class's own order.

    Folder trees list their images class after class, so without it the first ``limit`` images
    would hold only the first few classes, and a contiguous block (block access mode) would hold
    one class. Interleaved, every prefix is class-balanced, as the official CIFAR batches are.
    """
    labels = np.asarray(labels)
    rank_in_class = np.empty(len(labels), np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank_in_class[members] = np.arange(len(members))
    return np.lexsort((labels, rank_in_class))


class FileSource(Source):
    """Labelled image files in a store, decoded per read.

    Without ``image_size`` every image must have the size of the first one; with it, each is
    center-cropped and resized, so collections of mixed sizes (photographs) work too.
    """

    def __init__(self, store: DirStore | ZipStore, members: Sequence[str], labels: Sequence[int], *,
                 classes: Sequence[str], class_names: Sequence[str] | None = None, image_size: int | None = None,
                 name: str, spec: dict):
        if not members:
            raise SourceError(f"{store.where()}: no images found")
        labels = np.asarray(labels, dtype=np.int64)
        order = class_interleaved(labels)
        self.store, self.image_size, self.name = store, image_size, name
        self.members, self.labels = [members[k] for k in order], labels[order]
        self.classes = list(classes)
        self.class_names = list(class_names) if class_names is not None else list(self.classes)
        if image_size is None:
            with _opened(store.read(self.members[0]), store.where(self.members[0])) as first:
                self.image_shape = (first.height, first.width, 3)
        else:
            self.image_shape = (image_size, image_size, 3)
        self.spec = {**spec, "n": len(self.members), "order": "class-interleaved", "content": store.fingerprint()}
        if image_size is not None:
            self.spec["image_size"] = image_size

    def read_range(self, start: int, stop: int) -> np.ndarray:
        members = self.members[start:stop]
        out = np.empty((len(members), *self.image_shape), np.uint8)
        for k, member in enumerate(members):
            where = self.store.where(member)
            image = decode_image(self.store.read(member), where, self.image_size)
            if image.shape != self.image_shape:
                raise SourceError(
                    f"{where}: image is {image.shape[1]}x{image.shape[0]} px but {self.members[0]} is "
                    f"{self.image_shape[1]}x{self.image_shape[0]}; pass image_size to resize all images "
                    "to one size"
                )
            out[k] = image
        return out


def imagefolder(path: Path, split: str, image_size: int | None, *, name: str = "imagefolder",
                names: Mapping[str, str] | None = None) -> FileSource:
    """An image-folder tree (folder or zip) as a source; ``names`` maps folder names to class names."""
    store = open_store(path)
    classes, pairs = class_tree(store.files(), split, store.where(), store.folders())
    index = {c: i for i, c in enumerate(classes)}
    return FileSource(
        store, [m for _, m in pairs], [index[c] for c, _ in pairs], classes=classes,
        class_names=[(names or {}).get(c, c) for c in classes], image_size=image_size, name=name,
        spec={"name": name, "root": store.where(), "split": split},
    )


def open_imagefolder(root: str | os.PathLike | None, split: str, image_size: int | None,
                     download: bool) -> FileSource:
    if root is None:
        raise SourceError("imagefolder: pass root, a folder or .zip of [<split>/]<class>/<image> files")
    if download:
        raise ValueError("imagefolder: has nothing to download; pass root")
    return imagefolder(dataset_root(root, "imagefolder"), split, image_size)
