"""The ``[wrapper/][split/]<class>/<image>`` layout of an image-folder tree: which files are
images, which folders are splits, and the classes and members of one split.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from ..core.errors import SourceError, SplitNotFound

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")


def is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def class_tree(names: Sequence[str], split: str, where: str,
               folders: Sequence[str] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    """The classes of a ``[wrapper/][split/]<class>/<image>`` tree and the sorted ``(class, member)``
    pairs of one split; ``folders`` are the tree's folders, empty ones included.

    The classes are one list for every split: each folder that holds an image in some split (as
    torchvision's ``find_classes`` takes the class folders), so a class has one index everywhere.
    A split that lacks one of those folders altogether is a SourceError naming the classes; so is
    a class folder with no image in any split (torchvision's ``ImageFolder`` refuses it too), as
    leaving it out would shift the labels of the classes after it.
    """
    everything = [n.split("/") for n in names]
    parts = [p for p in everything if is_image(p[-1])]
    depth = 0
    # A single wrapper folder (e.g. the archive's own name) above the split or class folders.
    while (parts and len({p[depth] for p in parts}) == 1 and all(len(p) > depth + 2 for p in parts)
           and parts[0][depth] not in SPLIT_FOLDERS):
        depth += 1
    wrapper = parts[0][:depth] if parts else []
    everything = [p[depth:] for p in everything if p[:depth] == wrapper]
    # Every folder, as a path of parts: listed ones (empty ones too) and those holding a file.
    tree = {tuple(f.split("/")[depth:]) for f in folders if f.split("/")[:depth] == wrapper}
    tree |= {tuple(p[:k]) for p in everything for k in range(1, len(p))}
    parts = [p[depth:] for p in parts]
    splits = {p[0] for p in parts if len(p) > 2} & set(SPLIT_FOLDERS)
    if splits:
        if split not in splits:
            raise SplitNotFound(f"{where}: no split {split!r} (found: {', '.join(sorted(splits))})")
        classes = sorted({p[1] for p in parts if p[0] in splits and len(p) > 2})
        parts = [p[1:] for p in parts if p[0] == split]
        present = {f[1] for f in tree if len(f) == 2 and f[0] == split}
        imageless = sorted(f"{f[0]}/{f[1]}" for f in tree if len(f) == 2 and f[0] in splits and f[1] not in classes)
    elif split != "train":
        raise SplitNotFound(f"{where}: has no split folders ({', '.join(SPLIT_FOLDERS)}), "
                            f"so its only split is 'train', not {split!r}")
    else:
        classes = sorted({p[0] for p in parts if len(p) > 1})
        present = set(classes)
        imageless = sorted(f[0] for f in tree if len(f) == 1 and f[0] not in classes)
    pairs = sorted((p[0], "/".join([*wrapper, *([split] if splits else []), *p])) for p in parts if len(p) > 1)
    if not pairs:
        raise SourceError(f"{where}: wrong layout: expected images in [<split>/]<class>/<image> folders")
    missing = [c for c in classes if c not in present]
    if missing:
        raise SourceError(f"{where}: split {split!r} has no folder for class{'es' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)}, which other splits have images of; its labels would not "
                          "match theirs")
    if imageless:
        many = len(imageless) > 1
        shown = ", ".join("/".join([*wrapper, folder]) for folder in imageless)
        raise SourceError(f"{where}: class folder{'s' if many else ''} {shown} hold{'' if many else 's'} no images "
                          f"in any split; dropped, {'they' if many else 'it'} would shift the labels of the classes "
                          "after it (torchvision's ImageFolder refuses this too): remove it or add its images")
    return classes, pairs
