"""The peer people pick today: torchvision's ``ImageFolder`` with a ``DataLoader``, over the same images.

A dataset of image files (``imagefolder``, ``tiny-imagenet``, ``hires``: a folder or a zip) gets
its original encoded files, the ones the source uses, copied once out of the archive into a
``<class>/<file>`` tree; a dataset of arrays (``synthetic``, ``cifar10``) gets the ``files``
format's PNG tree of the same images. Either way ``ImageFolder`` then decodes what it would in a
user's script.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

import torch

from ..core import paths
from ..run import converted
from ..sources.base import LimitedSource, ResizedSource, Source
from ..sources.imagefolder import FileSource

COMPLETE = ".complete"


def original_files(source: Source) -> tuple[FileSource, bool] | None:
    """The file-backed source under ``source``'s wrappers and whether its files need resizing to
    ``source``'s size, or None when the images do not come from files."""
    base, resized = source, False
    while isinstance(base, (LimitedSource, ResizedSource)):
        resized |= isinstance(base, ResizedSource)
        base = base.base
    if not isinstance(base, FileSource):
        return None
    return base, resized or base.image_size is not None


def peer_folder(source: Source, progress: bool = False) -> tuple[Path, bool, str]:
    """A ``<class>/<image>`` folder of ``source``'s images for ``ImageFolder``, whether its images
    need resizing to ``source``'s size, and what it holds (in words)."""
    files = original_files(source)
    if files is None:
        path, _ = converted.ensure_converted(source, "files", {}, progress=progress)
        return path, False, "PNG files written by the files format"
    (base, resize), n = files, len(source)
    target = paths.data_dir("peer") / converted.dataset_key(source)
    if not (target / COMPLETE).is_file():
        shutil.rmtree(target, ignore_errors=True)
        tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        for index, (member, label) in enumerate(zip(base.members[:n], base.labels[:n])):
            folder = tmp / f"{int(label):04d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{index:07d}{PurePosixPath(member).suffix}").write_bytes(base.store.read(member))
        (tmp / COMPLETE).touch()
        os.rename(tmp, target)
    return target, resize, f"the original files of {base.store.where()}"


def imagefolder_loader(root: Path, image_size: int, resize: bool, batch_size: int, workers: int,
                       seed: int) -> torch.utils.data.DataLoader:
    """``ImageFolder`` + ``ToTensor`` (after a resize and center crop to ``image_size`` when
    ``resize``) + a shuffling ``DataLoader``: the usual tutorial pipeline."""
    from torchvision import datasets, transforms

    steps = [transforms.ToTensor()]
    if resize:
        steps = [transforms.Resize(image_size), transforms.CenterCrop(image_size), *steps]
    dataset = datasets.ImageFolder(str(root), transform=transforms.Compose(steps))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       generator=torch.Generator().manual_seed(seed))
