"""Tiny ImageNet from its official ``tiny-imagenet-200`` layout (a folder, or the zip itself).

``wnids.txt`` lists the classes in label order, ``words.txt`` names them;
``train/<wnid>/images/*.JPEG`` are the training images, ``val/images/*.JPEG`` the validation images
labelled by the tab-separated ``val/val_annotations.txt``; ``test/`` has no labels. Images are
64x64 JPEGs, some grayscale (converted to RGB).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..core.errors import SourceError, SplitNotFound
from .class_folders import is_image
from .download import dataset_root, find_or_fetch
from .imagefolder import FileSource
from .stores import DirStore, ZipStore, open_store

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
CHECKSUM = "md5:90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"
ARCHIVE = "tiny-imagenet-200.zip"

Store = DirStore | ZipStore


def _locate(root: Path) -> tuple[Store, str] | None:
    """The store holding the layout and the prefix of ``wnids.txt`` in it, or None."""
    for candidate in (root, root / FOLDER, root / ARCHIVE):
        if candidate.is_dir() and (candidate / "wnids.txt").is_file():
            return DirStore(candidate), ""
        if candidate.is_file():
            store = open_store(candidate)
            found = sorted((n for n in store.files() if PurePosixPath(n).name == "wnids.txt"), key=len)
            if found:
                return store, found[0][: -len("wnids.txt")]
    return None


def _lines(store: Store, name: str) -> list[tuple[int, str]]:
    """Numbered non-empty lines of a text file (the last may lack its newline)."""
    text = store.read(name).decode("utf-8", errors="replace")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _wnids(store: Store, name: str) -> list[str]:
    """The class ids in label order; SourceError when there are none or one repeats (a repeated
    id would leave a label no image can have)."""
    numbered = _lines(store, name)
    if not numbered:
        raise SourceError(f"{store.where(name)}: lists no classes")
    first_seen: dict[str, int] = {}
    for number, wnid in numbered:
        if wnid in first_seen:
            raise SourceError(f"{store.where(name)}, line {number}: class {wnid!r} repeats line {first_seen[wnid]}")
        first_seen[wnid] = number
    return list(first_seen)


def _optional_lines(store: Store, name: str) -> list[tuple[int, str]]:
    try:
        return _lines(store, name)
    except SourceError:
        return []  # the names file is a nicety: classes fall back to their wnids


def _train(store: Store, prefix: str, index: dict[str, int]) -> list[tuple[int, str]]:
    pairs = []
    for member in store.files(prefix + "train/"):
        parts = member[len(prefix):].split("/")  # train/<wnid>/images/<file>
        if len(parts) != 4 or parts[2] != "images" or not is_image(member):
            continue  # the boxes files and strays
        if parts[1] not in index:
            raise SourceError(f"{store.where(prefix + 'train/' + parts[1])}: class folder is not in wnids.txt")
        pairs.append((index[parts[1]], member))
    missing = set(index.values()) - {label for label, _ in pairs}
    if missing:
        wnid = next(w for w, i in index.items() if i in missing)
        raise SourceError(f"{store.where(prefix + 'train')}: no training images for {len(missing)} classes "
                          f"of wnids.txt, e.g. {wnid}")
    return sorted(pairs)


def _val(store: Store, prefix: str, index: dict[str, int]) -> list[tuple[int, str]]:
    notes = prefix + "val/val_annotations.txt"
    images = set(store.files(prefix + "val/images/"))
    if notes not in store.files(prefix + "val/"):
        raise SourceError(f"{store.where(notes)}: missing; it gives the labels of the val split's "
                          f"{len(images)} images, which cannot be read without it")
    pairs = []
    for number, line in _lines(store, notes):
        fields = line.split("\t")
        where = f"{store.where(notes)}, line {number}"
        if len(fields) < 2:
            raise SourceError(f"{where}: expected '<file>\\t<wnid>\\t<box>', got {line!r}")
        if fields[1] not in index:
            raise SourceError(f"{where}: class {fields[1]!r} is not in wnids.txt")
        member = f"{prefix}val/images/{fields[0]}"
        if member not in images:
            raise SourceError(f"{where}: image {fields[0]} is missing from {store.where(prefix + 'val/images')}")
        pairs.append((index[fields[1]], member))
    return pairs


def _unlabelled(store: Store, prefix: str, index: dict[str, int]):
    raise SplitNotFound(f"{store.where(prefix + 'test')}: the tiny-imagenet test split is unlabelled; "
                        "use split='train' or split='val'")


SPLITS: dict[str, Callable[[Store, str, dict[str, int]], list[tuple[int, str]]]] = {
    "train": _train, "val": _val, "test": _unlabelled,
}


def open_tiny_imagenet(root: str | os.PathLike | None, split: str, image_size: int | None,
                       download: bool) -> FileSource:
    store, prefix = find_or_fetch(dataset_root(root, "tiny-imagenet"), _locate, download=download, url=URL,
                                  checksum=CHECKSUM, expected=f"{FOLDER}/ (with wnids.txt) or {ARCHIVE}")
    if split not in SPLITS:
        raise SplitNotFound(f"{store.where(prefix)}: tiny-imagenet has no split {split!r} (valid: train, val)")
    wnids = _wnids(store, prefix + "wnids.txt")
    index = {wnid: i for i, wnid in enumerate(wnids)}
    words = dict(line.split("\t", 1) for _, line in _optional_lines(store, prefix + "words.txt") if "\t" in line)
    pairs = SPLITS[split](store, prefix, index)
    return FileSource(
        store, [m for _, m in pairs], [label for label, _ in pairs], classes=wnids,
        class_names=[words.get(w, w).split(",")[0].strip() for w in wnids], image_size=image_size,
        name="tiny-imagenet", spec={"name": "tiny-imagenet", "root": store.where(prefix), "split": split},
    )
