"""Images stored one per file, in a folder or a zip: ``root/[split/]<class>/<image>``.

:class:`FileSource` decodes lazily, only the images a read asks for; the ``tiny-imagenet`` and
``hires`` sources build on it with their own layouts.
"""
from __future__ import annotations

import contextlib
import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import SourceError
from .base import Source
from .download import dataset_root

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")


def is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _hidden(name: str) -> bool:
    """Stray entries such as ``.DS_Store`` or macOS zip metadata."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


class DirStore:
    """Files under a folder, named by their relative POSIX path."""

    def __init__(self, path: Path):
        self.path = path

    def files(self, prefix: str = "") -> list[str]:
        names = []
        for folder, dirs, files in os.walk(self.path / prefix):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = Path(folder).relative_to(self.path).as_posix()
            names.extend(f if rel == "." else f"{rel}/{f}" for f in files)
        return [n for n in names if not _hidden(n)]

    def read(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as error:
            raise SourceError(f"{self.where(name)}: cannot read ({error.strerror})") from error

    def where(self, name: str = "") -> str:
        return str(self.path / name) if name else str(self.path)


class ZipStore:
    """Members of a zip archive. The archive is opened on first read in each process, so the store
    pickles into DataLoader workers and never shares a file handle across a fork."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                self._names = [n for n in archive.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as error:
            raise SourceError(f"{path}: not a readable zip archive ({error})") from error
        self._archive, self._pid = None, None

    def files(self, prefix: str = "") -> list[str]:
        return [n for n in self._names if n.startswith(prefix) and not _hidden(n)]

    def read(self, name: str) -> bytes:
        if self._pid != os.getpid():
            self._archive, self._pid = zipfile.ZipFile(self.path), os.getpid()
        try:
            return self._archive.read(name)
        except KeyError as error:
            raise SourceError(f"{self.where(name)}: no such member") from error
        except (zipfile.BadZipFile, OSError, zlib.error) as error:
            raise SourceError(f"{self.where(name)}: cannot read ({error})") from error

    def where(self, name: str = "") -> str:
        return f"{self.path}:{name}" if name else str(self.path)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_archive": None, "_pid": None}


def open_store(path: Path) -> DirStore | ZipStore:
    """A folder or a zip file as a store; SourceError when the path is neither."""
    if path.is_dir():
        return DirStore(path)
    if path.is_file():
        return ZipStore(path)
    raise SourceError(f"{path}: does not exist")


@contextlib.contextmanager
def _opened(data: bytes, where: str) -> Iterator[Image.Image]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            yield image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise SourceError(f"{where}: cannot decode image ({error})") from error


def decode_image(data: bytes, where: str, size: int | None = None) -> np.ndarray:
    """Decode to uint8 HWC RGB (grayscale, palette and alpha images too); with ``size``, center-crop
    to a square and resize to ``size x size``."""
    with _opened(data, where) as image:
        image = image.convert("RGB")
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
        self.spec = {**spec, "n": len(self.members), "order": "class-interleaved"}
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


def class_tree(names: Sequence[str], split: str, where: str) -> list[tuple[str, str]]:
    """Sorted ``(class, member)`` pairs of one split of a ``[wrapper/][split/]<class>/<image>`` tree."""
    parts = [n.split("/") for n in names if is_image(n)]
    depth = 0
    # A single wrapper folder (e.g. the archive's own name) above the split or class folders.
    while (parts and len({p[depth] for p in parts}) == 1 and all(len(p) > depth + 2 for p in parts)
           and parts[0][depth] not in SPLIT_FOLDERS):
        depth += 1
    splits = {p[depth] for p in parts if len(p) > depth + 2} & set(SPLIT_FOLDERS)
    if splits:
        if split not in splits:
            raise SourceError(f"{where}: no split {split!r} (found: {', '.join(sorted(splits))})")
        parts, depth = [p for p in parts if p[depth] == split], depth + 1
    elif split != "train":
        raise SourceError(f"{where}: has no split folders ({', '.join(SPLIT_FOLDERS)}), "
                          f"so its only split is 'train', not {split!r}")
    pairs = sorted((p[depth], "/".join(p)) for p in parts if len(p) > depth + 1)
    if not pairs:
        raise SourceError(f"{where}: wrong layout: expected images in [<split>/]<class>/<image> folders")
    return pairs


def imagefolder(path: Path, split: str, image_size: int | None, *, name: str = "imagefolder",
                names: Mapping[str, str] | None = None) -> FileSource:
    """An image-folder tree (folder or zip) as a source; ``names`` maps folder names to class names."""
    store = open_store(path)
    pairs = class_tree(store.files(), split, store.where())
    classes = sorted({c for c, _ in pairs})
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
