"""WebDataset tar shards read through an index of their own: each shard's members parsed by the
standard library's ``tarfile`` into where each sample's image and label lie (the shard list and
each shard's bytes are checked first, :mod:`.listed_files`).

Written here rather than taken from ``wids`` (WebDataset's indexed reader, a package apart from
``webdataset`` 1.0.2): ``wids`` hands out one sample at a time as a dict of bytes, where the
format protocol reads a batch into one array, and it groups members by adjacent key without
refusing what a converted dataset must never hold: a key seen twice, a member without an
extension (it prints a warning and skips it), a path that climbs out with ``..`` or is absolute.
WebDataset's convention is kept: a member ``dir/KEY.EXT`` belongs to sample ``dir/KEY``, its
extension is everything after the first dot of the file name.
"""
from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.errors import FormatError

SHARD_PATTERN = "shard-%06d.tar"
SHARD_NAME = re.compile(r"^shard-\d{6}\.tar$")
LABEL = "cls"


def shard_name(number: int) -> str:
    return SHARD_PATTERN % number


@dataclass
class ShardIndex:
    """Where each sample of one shard lies: its image member's data offset and size, and its label."""
    offsets: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray


def split_member(file: Path, name: str) -> tuple[str, str]:
    """``(key, extension)`` of the member ``name``; FormatError naming the shard when its path
    is absolute, climbs out with ``..``, or has no extension."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts:
        raise FormatError(f"{file}: member {name!r} has a path that escapes the shard (absolute or '..'); refused")
    base, dot, extension = path.name.partition(".")
    if not dot or not base or not extension:
        raise FormatError(f"{file}: member {name!r} has no key.extension name")
    return str(path.parent / base) if path.parent.parts else base, extension


def index_shard(file: Path, image_ext: str) -> tuple[list[str], ShardIndex]:
    """Every sample of the shard ``file`` in order: its key, and its image and label. FormatError
    naming the shard and the key for a member of another extension than ``image_ext`` and ``cls``,
    a key used by two samples (or twice in one), a sample without its label or image, a link or
    a device, or a label that is not an integer."""
    keys: list[str] = []
    members: list[dict] = []
    try:
        with tarfile.open(file, "r:") as tar:
            for info in tar:
                if info.isdir():
                    continue
                key, ext = split_member(file, info.name)
                if not info.isreg():
                    raise FormatError(f"{file}: key {key!r}: member {info.name!r} is not a regular file "
                                      "(a link or a device); refused")
                if ext not in (image_ext, LABEL):
                    raise FormatError(f"{file}: key {key!r}: member {info.name!r} has extension {ext!r}; a sample "
                                      f"holds .{image_ext} and .{LABEL} only")
                if not keys or keys[-1] != key:
                    keys.append(key)
                    members.append({})
                if ext in members[-1]:
                    raise FormatError(f"{file}: key {key!r}: two .{ext} members")
                members[-1][ext] = info
                if ext == LABEL:
                    members[-1]["label"] = tar.extractfile(info).read()
    except tarfile.TarError as exc:
        raise FormatError(f"{file}: not a readable tar shard ({exc})") from None
    if len(set(keys)) != len(keys):
        seen = set()
        twice = next(k for k in keys if k in seen or seen.add(k))
        raise FormatError(f"{file}: key {twice!r} names two samples")
    offsets, sizes, labels = [], [], []
    for key, sample in zip(keys, members):
        for ext, what in ((LABEL, "label"), (image_ext, "image")):
            if ext not in sample:
                raise FormatError(f"{file}: key {key!r}: sample without its {what} (.{ext})")
        offsets.append(sample[image_ext].offset_data)
        sizes.append(sample[image_ext].size)
        labels.append(_label(file, key, sample["label"]))
    index = ShardIndex(np.asarray(offsets, np.int64), np.asarray(sizes, np.int64), np.asarray(labels, np.int64))
    size = file.stat().st_size
    if len(keys) and int((index.offsets + index.sizes).max()) > size:
        raise FormatError(f"{file}: a member's data runs past the shard's end ({size} bytes): truncated")
    return keys, index


def _label(file: Path, key: str, data: bytes) -> int:
    text = data.decode("ascii", errors="replace").strip()
    if not re.fullmatch(r"-?\d{1,18}", text):
        raise FormatError(f"{file}: key {key!r}: label {data[:40]!r} is not an integer")
    return int(text)
