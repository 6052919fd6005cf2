"""Where image files lie: a folder (:class:`DirStore`) or a zip archive (:class:`ZipStore`), each
listing its files and folders, reading one file's bytes and naming it in errors; a zip's members
are bounded before they are decompressed.
"""
from __future__ import annotations

import collections
import os
import zipfile
import zlib
from pathlib import Path

from ..core.errors import SourceError
from ..core.paths import read_regular_file
from .base import fingerprint

#: Bounds on a zip member, checked from the central directory before it is decompressed, so a
#: small archive cannot expand into gigabytes: a member may hold at most MAX_MEMBER_BYTES, and one
#: of more than RATIO_FLOOR_BYTES may be at most MAX_RATIO times its compressed size. A 24-bit
#: 8192 x 8192 BMP is 192 MiB; photographs compress by about 1-10x (JPEG and PNG hardly at all);
#: only near-blank large images exceed 1000x.
MAX_MEMBER_BYTES = 256 << 20
MAX_RATIO = 1000
RATIO_FLOOR_BYTES = 1 << 20


def _hidden(name: str) -> bool:
    """Stray entries such as ``.DS_Store`` or macOS zip metadata."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


class DirStore:
    """Files under a folder, named by their relative POSIX path."""

    def __init__(self, path: Path):
        self.path = path
        self._fingerprint = None

    def files(self, prefix: str = "") -> list[str]:
        return self._walk(prefix)[0]

    def folders(self, prefix: str = "") -> list[str]:
        """Every folder under ``prefix``, empty ones too."""
        return self._walk(prefix)[1]

    def _walk(self, prefix: str) -> tuple[list[str], list[str]]:
        """The files and folders under ``prefix``, following linked folders as torchvision's
        ``ImageFolder`` does; SourceError for a link into a folder that holds it (a loop)."""
        top = self.path / prefix
        if not top.is_dir():
            return [], []
        names, folders = [], []
        ancestors = {str(top): {_identity(top)}}  # each folder's chain of real folders, for loops
        for folder, dirs, files in os.walk(top, followlinks=True):
            chain = ancestors.pop(folder)
            rel = Path(folder).relative_to(self.path).as_posix()
            kept = []
            for d in dirs:
                if d.startswith("."):
                    continue
                child = os.path.join(folder, d)
                identity = _identity(Path(child))
                if identity in chain:
                    raise SourceError(f"{child}: a symbolic link to a folder that holds it (a loop)")
                ancestors[child] = chain | {identity}
                kept.append(d)
                folders.append(d if rel == "." else f"{rel}/{d}")
            dirs[:] = kept
            names.extend(f if rel == "." else f"{rel}/{f}" for f in files)
        return [n for n in names if not _hidden(n)], [f for f in folders if not _hidden(f)]

    def _stat(self, name: str) -> os.stat_result:
        try:
            return os.stat(self.path / name)
        except OSError as error:  # a broken link
            raise SourceError(f"{self.where(name)}: cannot read ({error.strerror})") from error

    def read(self, name: str) -> bytes:
        try:
            return read_regular_file(self.path / name)
        except OSError as error:
            raise SourceError(f"{self.where(name)}: cannot read ({error.strerror})") from error

    def where(self, name: str = "") -> str:
        return str(self.path / name) if name else str(self.path)

    def fingerprint(self) -> str:
        """Every file's name, size and modification time, hashed."""
        if self._fingerprint is None:
            stats = ((name, self._stat(name)) for name in sorted(self.files()))
            self._fingerprint = fingerprint((name, st.st_size, st.st_mtime_ns) for name, st in stats)
        return self._fingerprint

    def content_id(self) -> str:
        """Every file's name and size, hashed: the same on a copy, which gets new modification times."""
        return fingerprint((name, self._stat(name).st_size) for name in sorted(self.files()))


def _identity(folder: Path) -> tuple[int, int]:
    info = folder.stat()
    return info.st_dev, info.st_ino


class ZipStore:
    """Members of a zip archive. The archive is opened on first read in each process, so the store
    pickles into DataLoader workers and never shares a file handle across a fork."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise SourceError(f"{path}: not a readable zip archive ({error})") from error
        members = [info for info in entries if not info.filename.endswith("/")]
        for info in members:
            _check_member_name(info.filename, self.where(info.filename))
        repeated = sorted(name for name, count in collections.Counter(i.filename for i in members).items() if count > 1)
        if repeated:
            shown = ", ".join(repeated[:5]) + (f" and {len(repeated) - 5} more" if len(repeated) > 5 else "")
            raise SourceError(f"{path}: holds {len(repeated)} member name{'s' if len(repeated) > 1 else ''} twice "
                              f"or more ({shown}); only the last copy of each could be read")
        self._names = [info.filename for info in members]
        self._sizes = {info.filename: (info.file_size, info.compress_size) for info in members}
        self._folders = [info.filename.rstrip("/") for info in entries if info.filename.endswith("/")]
        self._content_id = fingerprint(sorted((i.filename, i.CRC, i.file_size) for i in members))
        stat = path.stat()
        # The central directory's checksums identify every member's bytes without reading them.
        self._fingerprint = fingerprint([(stat.st_size, stat.st_mtime_ns),
                                         *((i.filename, i.CRC, i.file_size) for i in members)])
        self._archive, self._pid = None, None

    def fingerprint(self) -> str:
        """The archive's size and modification time, and every member's name, CRC-32 and size, hashed."""
        return self._fingerprint

    def content_id(self) -> str:
        """Every member's name, CRC-32 and size, hashed: the same for a copy of the archive anywhere."""
        return self._content_id

    def files(self, prefix: str = "") -> list[str]:
        return [n for n in self._names if n.startswith(prefix) and not _hidden(n)]

    def folders(self, prefix: str = "") -> list[str]:
        """The archive's folder entries under ``prefix`` (a zip need not have any)."""
        return [n for n in self._folders if n.startswith(prefix) and not _hidden(n)]

    def read(self, name: str) -> bytes:
        self._check_size(name)
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

    def _check_size(self, name: str) -> None:
        """SourceError before decompressing a member too large to be an image (a zip bomb)."""
        size, packed = self._sizes.get(name, (0, 0))
        if size > MAX_MEMBER_BYTES:
            raise SourceError(f"{self.where(name)}: member would expand to {size:,} bytes, more than the "
                              f"{MAX_MEMBER_BYTES >> 20} MiB an image may have; not decompressed")
        if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * max(packed, 1):
            raise SourceError(f"{self.where(name)}: member would expand {size / max(packed, 1):,.0f}x "
                              f"({packed:,} to {size:,} bytes), more than the {MAX_RATIO}x an image may; "
                              "not decompressed")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_archive": None, "_pid": None}


def _check_member_name(name: str, where: str) -> None:
    """SourceError for a member whose name is absolute or climbs out of the archive (its class
    would be read as ``""`` or ``..``)."""
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise SourceError(f"{where}: unsafe member name (absolute, empty or '.'/'..' path parts)")


def open_store(path: Path) -> DirStore | ZipStore:
    """A folder or a zip file as a store; SourceError when the path is neither."""
    if path.is_dir():
        return DirStore(path)
    if path.is_file():
        return ZipStore(path)
    raise SourceError(f"{path}: does not exist")
