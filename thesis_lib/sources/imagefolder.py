"""Images stored one per file, in a folder or a zip: ``root/[split/]<class>/<image>``.

:class:`FileSource` decodes lazily, only the images a read asks for; the ``tiny-imagenet`` and
``hires`` sources build on it with their own layouts.
"""
from __future__ import annotations

import collections
import contextlib
import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import SourceError, SplitNotFound
from ..paths import read_regular_file
from .base import Source, fingerprint
from .download import dataset_root

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")
#: Bounds on a zip member, checked from the central directory before it is decompressed, so a
#: small archive cannot expand into gigabytes: a member may hold at most MAX_MEMBER_BYTES, and one
#: of more than RATIO_FLOOR_BYTES may be at most MAX_RATIO times its compressed size. A 24-bit
#: 8192 x 8192 BMP is 192 MiB; photographs compress by about 1-10x (JPEG and PNG hardly at all);
#: only near-blank large images exceed 1000x.
MAX_MEMBER_BYTES = 256 << 20
MAX_RATIO = 1000
RATIO_FLOOR_BYTES = 1 << 20


def is_image(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


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
