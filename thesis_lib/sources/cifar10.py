"""CIFAR-10 from the official python archive: ``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/``.

The folder holds pickled batches of 10,000 images (``data_batch_1..5``, ``test_batch``), each a dict
with ``data`` (uint8 ``N x 3072``, channel-major 32x32 planes) and ``labels``, plus ``batches.meta``
with ``label_names``. The files were written by Python 2, so their keys and names may load as bytes.
A batch (30 MB) is the unit read into memory.

An archive is checked against the official md5 first, as torchvision does; another archive is
refused unless ``allow_unofficial=True``, which the source's spec then records with its digest.
It is extracted under the data folder (``extracted/cifar10-<digest>``), never beside the archive:
the folder a user names as root is only read, and may be read-only.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ..core.errors import SourceError, SplitNotFound
from ..core.paths import data_dir
from .base import BlockedSource, fingerprint
from .download import archive_digest, dataset_root, extract, find_or_fetch

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CHECKSUM = "md5:c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists and NumPy arrays, nothing that could run code from a downloaded file."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _text(key) -> str:
    return key.decode("latin1") if isinstance(key, bytes) else key


def load_pickle(path: Path) -> dict:
    """A batch or meta dict with str keys."""
    try:
        with open(path, "rb") as f:
            content = _ArraysOnly(f, encoding="latin1").load()
    except FileNotFoundError as error:
        raise SourceError(f"{path}: missing CIFAR-10 file") from error
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError) as error:
        raise SourceError(f"{path}: not a CIFAR-10 pickle ({error})") from error
    if not isinstance(content, dict):
        raise SourceError(f"{path}: not a CIFAR-10 pickle (holds {type(content).__name__}, not a dict)")
    return {_text(k): v for k, v in content.items()}


def _field(content: dict, key: str, path: Path):
    if key not in content:
        raise SourceError(f"{path}: CIFAR-10 pickle lacks {key!r} (has {', '.join(map(str, content))})")
    return content[key]


class Cifar10Source(BlockedSource):
    """One split of an extracted ``cifar-10-batches-py`` folder."""

    name = "cifar10"

    def __init__(self, folder: Path, split: str, origin: dict | None = None):
        """``origin``: where the batches came from (the archive, its digest), for the spec."""
        if split not in SPLITS:
            raise SplitNotFound(f"{folder}: CIFAR-10 has no split {split!r} (valid: {', '.join(SPLITS)})")
        self.batches = [folder / b for b in SPLITS[split]]
        meta = folder / "batches.meta"
        self.class_names = [_text(n) for n in _field(load_pickle(meta), "label_names", meta)]
        self.classes = list(self.class_names)
        self.image_shape = (32, 32, 3)
        per_batch = [self._labels(path) for path in self.batches]
        self.labels = np.concatenate(per_batch)
        self.block_starts = np.cumsum([0] + [len(labels) for labels in per_batch])
        files = [meta, *self.batches]
        self.spec = {"name": self.name, "root": str(folder), "split": split, **(origin or {}),
                     "content": fingerprint((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)}

    def _labels(self, path: Path) -> np.ndarray:
        labels = np.asarray(_field(load_pickle(path), "labels", path), dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise SourceError(f"{path}: labels outside 0..{len(self.classes) - 1}")
        return labels

    def load_block(self, b: int) -> np.ndarray:
        path = self.batches[b]
        data = np.asarray(_field(load_pickle(path), "data", path))
        count = int(self.block_starts[b + 1] - self.block_starts[b])
        if data.dtype != np.uint8 or data.shape != (count, 3 * 32 * 32):
            raise SourceError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 ({count}, 3072)")
        return data.reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)


def _batches_folder(root: Path, allow_unofficial: bool) -> tuple[Path, dict] | None:
    """The batches folder under ``root`` (or ``root`` itself), or extracted from the archive
    ``root`` is or holds; with what the spec records of its origin."""
    for folder in (root / FOLDER, root):
        if (folder / "batches.meta").is_file():
            return folder, {}
    archive = root if root.is_file() else root / ARCHIVE
    if not archive.is_file():
        return None
    algorithm, _, official = CHECKSUM.partition(":")
    digest = archive_digest(archive, algorithm)
    origin = {"root": str(archive)}
    if digest != official.lower():
        if not allow_unofficial:
            raise SourceError(f"{archive}: {algorithm} {digest} is not the official CIFAR-10 archive's "
                              f"({official}); pass allow_unofficial=True to read it anyway (recorded in "
                              "the source's spec)")
        origin |= {"allow_unofficial": True, "archive": f"{algorithm}:{digest}"}
    into = data_dir("extracted", f"cifar10-{digest[:16]}")
    if not (into / FOLDER / "batches.meta").is_file():
        extract(archive, into)
    if not (into / FOLDER).is_dir():
        raise SourceError(f"{archive}: holds no {FOLDER}/ folder")
    return into / FOLDER, origin


def open_cifar10(root: str | os.PathLike | None, split: str, image_size: int | None,
                 download: bool, *, allow_unofficial: bool = False) -> Cifar10Source:
    """``allow_unofficial``: read an archive whose md5 is not the official one."""
    folder, origin = find_or_fetch(dataset_root(root, "cifar10"), lambda r: _batches_folder(r, allow_unofficial),
                                   download=download, url=URL, checksum=CHECKSUM,
                                   expected=f"{ARCHIVE} or {FOLDER}/")
    return Cifar10Source(folder, split, origin)
