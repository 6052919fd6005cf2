"""Getting dataset archives onto disk: checksum-verified downloads, safe extraction, where data lives."""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from ..core.errors import SourceError
from ..core.paths import data_dir, data_root

T = TypeVar("T")
_BLOCK = 1 << 20


#: The datasets that ``download=True`` fetches (``python -m thesis_lib prepare --dataset NAME --download``)
#: into their default place, ``<data root>/<name>``.
DOWNLOADABLE = ("cifar10", "tiny-imagenet", "hires")


def dataset_root(root: str | os.PathLike | None, name: str) -> Path:
    """The folder a dataset is read from: ``root`` when given, else ``<data root>/<name>``."""
    return Path(root).expanduser().resolve() if root is not None else data_root() / name


def file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def archive_digest(path: Path, algorithm: str) -> str:
    """:func:`file_digest`, remembered while the file keeps its size and modification time: a
    sweep opens the same archive for every point."""
    info = path.stat()
    return _remembered_digest(str(path.resolve()), algorithm, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _remembered_digest(path: str, algorithm: str, size: int, mtime_ns: int) -> str:
    return file_digest(Path(path), algorithm)


def fetch(url: str, checksum: str, dest: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """Download ``url`` into ``dest`` (default ``data/downloads``) unless a verified copy is there.

    ``checksum`` is ``"<algorithm>:<hex digest>"`` (e.g. ``"md5:..."``, ``"sha256:..."``). The file
    is written to a temporary sibling and renamed only once its digest matches, so a failed or
    corrupt download leaves nothing behind.
    """
    algorithm, _, expected = checksum.partition(":")
    if algorithm not in hashlib.algorithms_available or not expected:
        raise ValueError(f"checksum must be '<algorithm>:<hex digest>', got {checksum!r}")
    folder = Path(dest) if dest is not None else data_dir("downloads")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / url.rstrip("/").rsplit("/", 1)[-1]
    if target.is_file() and file_digest(target, algorithm) == expected.lower():
        return target
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response, tqdm(
            total=int(response.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
            desc=target.name, disable=not progress,
        ) as bar:
            while block := response.read(_BLOCK):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
        if digest.hexdigest() != expected.lower():
            raise SourceError(f"{url}: {algorithm} checksum mismatch (got {digest.hexdigest()}, "
                              f"expected {expected}); the download was discarded")
        os.replace(partial, target)
    except (urllib.error.URLError, OSError) as error:
        raise SourceError(f"{url}: download failed ({error})") from error
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


def extract(archive: Path, into: Path) -> None:
    """Unpack a tar(.gz) or zip archive into ``into``.

    Unpacks into a hidden temporary folder first and moves each top-level entry into place only when
    all is out, so an interrupted extraction never looks like a complete dataset. Entries already
    present are kept.
    """
    into.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=into, prefix=".extract-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(scratch)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(scratch, filter="data")  # refuses absolute paths, links out, devices
        for entry in scratch.iterdir():
            if not (into / entry.name).exists():
                try:
                    os.replace(entry, into / entry.name)
                except OSError:
                    if not (into / entry.name).exists():
                        raise  # else another process extracted the same archive first
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise SourceError(f"{archive}: cannot extract into {into} ({error})") from error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def find_or_fetch(root: Path, find: Callable[[Path], T | None], *, download: bool, url: str, checksum: str,
                  expected: str) -> T:
    """``find(root)``; when that finds nothing and ``download`` is set, fetch and extract into ``root`` first.

    ``expected`` describes what ``find`` looks for, for the error message.
    """
    found = find(root) if root.exists() else None
    if found is None and download:
        extract(fetch(url, checksum), root)
        found = find(root)
    if found is not None:
        return found
    problem = f"holds no {expected}" if root.exists() else "does not exist"
    raise SourceError(f"{root}: {problem} (pass download=True to fetch {url})")
