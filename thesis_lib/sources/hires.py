"""The high-resolution set: Imagenette (fast.ai's 10-class ImageNet subset, 320 px on the short side).

Read as an image folder with ``train``/``val`` splits, center-cropped and resized to squares
(256 px unless ``image_size`` says otherwise). When it is not at hand and not to be downloaded,
generated 256 px images stand in under the name ``hires-synthetic``, with a warning.
"""
from __future__ import annotations

import os
import logging
from pathlib import Path

from .base import Source
from .download import dataset_root, find_or_fetch
from .imagefolder import imagefolder
from .synthetic import SyntheticSource

log = logging.getLogger(__name__)

URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz"
CHECKSUM = "md5:3df6f0d01a2c9592104656642f5e78a3"
FOLDER = "imagenette2-320"
DEFAULT_SIZE = 256
SPLITS = {"train": 9469, "val": 3925}  # Imagenette's sizes, mimicked by the stand-in
NAMES = {
    "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
    "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
    "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball", "n03888257": "parachute",
}


def _find(root: Path) -> Path | None:
    for folder in (root / FOLDER, root):
        if (folder / "train").is_dir():
            return folder
    return None


def open_hires(root: str | os.PathLike | None, split: str, image_size: int | None,
               download: bool) -> Source:
    size = image_size or DEFAULT_SIZE
    base = dataset_root(root, "hires")
    if root is None and not download and _find(base) is None:
        log.warning("hires: Imagenette is not under %s and download=False; using generated %d px images "
                    "(hires-synthetic) instead", base, size)
        return SyntheticSource(image_size=size, split=split, splits=SPLITS, name="hires-synthetic")
    folder = find_or_fetch(base, _find, download=download, url=URL, checksum=CHECKSUM,
                           expected=f"{FOLDER}/ with train/ and val/ image folders")
    return imagefolder(folder, split, size, name="hires", names=NAMES)
